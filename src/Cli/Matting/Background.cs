using System.Globalization;
using BiVM.Contracts;
using OpenCvSharp;

namespace BiVM.Cli.Matting;

/// <summary>
/// What the foreground is composited over: a colour, an image, or a video. A background video shorter than the
/// input is looped; a longer one is trimmed (its frames after the input's last are never read). Backgrounds are
/// kept as planar RGB floats at the frame size, the form the composite works in, and are converted again only
/// when they change: once for a colour or an image, per frame for a video.
/// </summary>
internal abstract class Background : IDisposable
{
    protected PlanarFrame Planes { get; } = new(3);

    /// <summary>The background for frame <paramref name="index"/> at the frame size. Indices must not decrease.</summary>
    public abstract PlanarFrame At(int index, int width, int height);

    /// <summary>The background for frame <paramref name="index"/> as interleaved RGB bytes (one-off pictures, e.g. <c>bivm compare</c>).</summary>
    public byte[] Rgb24(int index, int width, int height)
    {
        var planes = At(index, width, height);
        var rgb = new byte[3 * width * height];
        for (int c = 0; c < 3; c++)
        {
            var plane = planes.PlaneSpan(c);
            for (int i = 0; i < plane.Length; i++) rgb[3 * i + c] = (byte)Math.Clamp(MathF.Round(plane[i] * 255f), 0f, 255f);
        }
        return rgb;
    }

    /// <summary>The R, G, B values in 0..1 of a background that is one colour everywhere (then the composite reads no
    /// plane: <see cref="At"/> would give planes filled with these values); null for images and videos.</summary>
    public virtual float[]? Uniform => null;

    public virtual void Dispose() => Planes.Dispose();

    private static readonly Dictionary<string, (byte R, byte G, byte B)> Named = new(StringComparer.OrdinalIgnoreCase)
    {
        ["green"] = (0, 177, 64),   // chroma-key green
        ["blue"] = (0, 71, 187),
        ["white"] = (255, 255, 255),
        ["black"] = (0, 0, 0),
        ["grey"] = (128, 128, 128),
        ["gray"] = (128, 128, 128),
    };

    private static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"];

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
        if (ImageExtensions.Contains(Path.GetExtension(spec).ToLowerInvariant()))
            return new ImageBackground(FrameSource.ReadImage(spec));
        return new VideoBackground(spec);
    }

    /// <summary>Resizes a BGR image to the frame size and converts it into <see cref="Planes"/>.</summary>
    protected void Convert(Mat bgr, int width, int height, Mat resized, FrameConverter converter)
    {
        if (bgr.Width == width && bgr.Height == height) converter.ToPlanar(bgr, Planes);
        else
        {
            Cv2.Resize(bgr, resized, new Size(width, height), interpolation: InterpolationFlags.Area);
            converter.ToPlanar(resized, Planes);
        }
    }
}

internal sealed class ColorBackground(byte r, byte g, byte b) : Background
{
    private readonly float[] _rgb = [r / 255f, g / 255f, b / 255f];

    public override float[]? Uniform => _rgb;

    public override PlanarFrame At(int index, int width, int height)
    {
        if (Planes.Width != width || Planes.Height != height)
        {
            Planes.EnsureSize(width, height);
            for (int c = 0; c < 3; c++) Planes.PlaneSpan(c).Fill(_rgb[c]);
        }
        return Planes;
    }
}

/// <summary>One image, resized to the frame size once per size.</summary>
internal sealed class ImageBackground(Mat image) : Background
{
    private readonly Mat _resized = new();
    private readonly FrameConverter _converter = new();

    public override PlanarFrame At(int index, int width, int height)
    {
        if (Planes.Width != width || Planes.Height != height) Convert(image, width, height, _resized, _converter);
        return Planes;
    }

    public override void Dispose()
    {
        image.Dispose();
        _resized.Dispose();
        _converter.Dispose();
        base.Dispose();
    }
}

/// <summary>A video read one frame at a time alongside the input (never held in memory), reopened at its end to loop.</summary>
internal sealed class VideoBackground : Background
{
    private readonly string _path;
    private readonly Mat _frame = new(), _resized = new();
    private readonly FrameConverter _converter = new();
    private VideoCapture _capture;
    private int _position = -1;

    public VideoBackground(string path)
    {
        _path = path;
        _capture = Open(path);
        if (!_capture.Read(_frame) || _frame.Empty())
            throw new UserInputException($"--background {path}: no frame could be decoded (not an image or video)");
        _position = 0;
    }

    private static VideoCapture Open(string path)
    {
        var capture = new VideoCapture(path);
        if (capture.IsOpened()) return capture;
        capture.Dispose();
        throw new UserInputException($"--background {path}: cannot be opened as an image or video");
    }

    public override PlanarFrame At(int index, int width, int height)
    {
        bool moved = false;
        while (_position < index)
        {
            if (!_capture.Read(_frame) || _frame.Empty())
            {
                _capture.Dispose();   // the end: loop from the first frame
                _capture = Open(_path);
                if (!_capture.Read(_frame) || _frame.Empty()) throw new UserInputException($"--background {_path}: stopped decoding");
            }
            _position++;
            moved = true;
        }
        if (moved || Planes.Width != width || Planes.Height != height) Convert(_frame, width, height, _resized, _converter);
        return Planes;
    }

    public override void Dispose()
    {
        _capture.Dispose();
        _frame.Dispose();
        _resized.Dispose();
        _converter.Dispose();
        base.Dispose();
    }
}
