using System.Globalization;
using BiVM.Contracts;
using OpenCvSharp;

namespace BiVM.Cli.Matting;

/// <summary>What the foreground is composited over: a colour, an image, or a video (looped).</summary>
internal abstract class Background : IDisposable
{
    /// <summary>The background for frame i at the given size, as interleaved RGB bytes.</summary>
    public abstract byte[] Rgb24(int index, int width, int height);

    public virtual void Dispose() { }

    private static readonly Dictionary<string, (byte R, byte G, byte B)> Named = new(StringComparer.OrdinalIgnoreCase)
    {
        ["green"] = (0, 177, 64),   // chroma-key green
        ["blue"] = (0, 71, 187),
        ["white"] = (255, 255, 255),
        ["black"] = (0, 0, 0),
        ["grey"] = (128, 128, 128),
        ["gray"] = (128, 128, 128),
    };

    /// <summary>Parses "green", "#RRGGBB", "R,G,B", an image file or a video file.</summary>
    public static Background Parse(string spec)
    {
        if (Named.TryGetValue(spec, out var c)) return new ColorBackground(c.R, c.G, c.B);
        if (spec.StartsWith('#') && spec.Length == 7 && int.TryParse(spec.AsSpan(1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int hex))
            return new ColorBackground((byte)(hex >> 16), (byte)(hex >> 8), (byte)hex);
        var parts = spec.Split(',');
        if (parts.Length == 3 && parts.All(p => byte.TryParse(p.Trim(), CultureInfo.InvariantCulture, out _)))
            return new ColorBackground(byte.Parse(parts[0].Trim(), CultureInfo.InvariantCulture), byte.Parse(parts[1].Trim(), CultureInfo.InvariantCulture), byte.Parse(parts[2].Trim(), CultureInfo.InvariantCulture));
        if (!File.Exists(spec))
            throw new UserInputException($"--background '{spec}': not a colour (green, #RRGGBB, R,G,B) nor an existing image or video file");
        var source = FrameSource.Open(spec);
        return new FramesBackground(source);
    }
}

internal sealed class ColorBackground(byte r, byte g, byte b) : Background
{
    public override byte[] Rgb24(int index, int width, int height)
    {
        var rgb = new byte[3 * width * height];
        for (int i = 0; i < rgb.Length; i += 3) { rgb[i] = r; rgb[i + 1] = g; rgb[i + 2] = b; }
        return rgb;
    }
}

/// <summary>An image, or a video's frames decoded once and looped, resized to the frame size.</summary>
internal sealed class FramesBackground : Background
{
    private readonly List<Mat> _frames = [];

    public FramesBackground(FrameSource source)
    {
        using (source)
        {
            foreach (var frame in source.Frames())
            {
                _frames.Add(frame);
                if (_frames.Count >= 300) break;   // ~10 s of background is plenty when looped; bounds memory
            }
        }
    }

    public override byte[] Rgb24(int index, int width, int height)
    {
        var frame = _frames[index % _frames.Count];
        using var resized = new Mat();
        Cv2.Resize(frame, resized, new Size(width, height), interpolation: InterpolationFlags.Area);
        using var rgb = new Mat();
        Cv2.CvtColor(resized, rgb, ColorConversionCodes.BGR2RGB);
        return MatBytes.ToArray(rgb);
    }

    public override void Dispose()
    {
        foreach (var f in _frames) f.Dispose();
    }
}
