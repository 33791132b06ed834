using Microsoft.ML.Data;

namespace BiVM.Estimators.MLNet;

/// <summary>MLImage pixels as the planar RGB floats the network takes.</summary>
internal static class ImagePixels
{
    /// <summary>
    /// MLImage stores 32-bit pixels with premultiplied alpha (RGBA or BGRA). Colour is divided by alpha
    /// again where 0 &lt; alpha &lt; 255, so a translucent pixel is matted by its colour, not its darkened
    /// premultiplied value; fully transparent pixels read as black.
    /// </summary>
    public static (float[] Planar, int Width, int Height) ToPlanarRgb(MLImage image)
    {
        var pixels = image.Pixels;
        int n = image.Width * image.Height;
        (int r, int g, int b) = image.PixelFormat switch
        {
            MLPixelFormat.Rgba32 => (0, 1, 2),
            MLPixelFormat.Bgra32 => (2, 1, 0),
            _ => throw new NotSupportedException($"BiVM: MLImage pixel format {image.PixelFormat} is not supported"),
        };
        var planar = new float[3 * n];
        for (int i = 0; i < n; i++)
        {
            int a = pixels[4 * i + 3];
            float scale = a is 0 or 255 ? 1f / 255f : 1f / a;
            planar[i] = Math.Min(pixels[4 * i + r] * scale, 1f);
            planar[n + i] = Math.Min(pixels[4 * i + g] * scale, 1f);
            planar[2 * n + i] = Math.Min(pixels[4 * i + b] * scale, 1f);
        }
        return (planar, image.Width, image.Height);
    }
}
