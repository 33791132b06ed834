using BiVM.Estimators.Video;
using Microsoft.ML.Data;

namespace BiVM.Estimators.MLNet;

/// <summary>MLImage pixels as the planar RGB floats the network takes.</summary>
internal static class ImagePixels
{
    /// <summary>Mattes one image on <paramref name="stream"/>, converted into the stream's reused frame buffer.</summary>
    public static MatteFrame Matte(FrameStream stream, MLImage image, bool newStream)
    {
        var planar = stream.PlanarBuffer(image.Width, image.Height);
        ToPlanarRgb(image, planar);
        return stream.MattePlanar(planar, image.Width, image.Height, newStream);
    }

    /// <summary>
    /// MLImage stores 32-bit pixels with premultiplied alpha (RGBA or BGRA). Colour is divided by alpha
    /// again where 0 &lt; alpha &lt; 255, so a translucent pixel is matted by its colour, not its darkened
    /// premultiplied value; fully transparent pixels read as black. The values lie in 0..1 by construction.
    /// </summary>
    public static void ToPlanarRgb(MLImage image, Span<float> planar)
    {
        var pixels = image.Pixels;
        int n = image.Width * image.Height;
        (int r, int g, int b) = image.PixelFormat switch
        {
            MLPixelFormat.Rgba32 => (0, 1, 2),
            MLPixelFormat.Bgra32 => (2, 1, 0),
            _ => throw new NotSupportedException($"BiVM: MLImage pixel format {image.PixelFormat} is not supported"),
        };
        if (pixels.Length < 4 * n || planar.Length != 3 * n)
            throw new ArgumentException($"BiVM: a {image.Width}×{image.Height} image holds {pixels.Length} pixel bytes; expected {4 * n}");
        var red = planar[..n];
        var green = planar.Slice(n, n);
        var blue = planar.Slice(2 * n, n);
        for (int i = 0, p = 0; i < n; i++, p += 4)
        {
            int a = pixels[p + 3];
            float scale = a is 0 or 255 ? 1f / 255f : 1f / a;
            red[i] = Math.Min(pixels[p + r] * scale, 1f);
            green[i] = Math.Min(pixels[p + g] * scale, 1f);
            blue[i] = Math.Min(pixels[p + b] * scale, 1f);
        }
    }
}
