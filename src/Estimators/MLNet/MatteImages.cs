using Microsoft.ML.Data;

namespace BiVM.Estimators.MLNet;

/// <summary>
/// The transform's output vectors as opaque <see cref="MLImage"/>s, ready for <see cref="MLImage.Save(string)"/>.
/// ML.NET's <c>ConvertToImage</c> turns them into images too, but when it scales (<c>scaleImage: 255f</c>) it sets
/// every pixel's alpha to 0 (ML.NET 5.0.1), so the PNGs it saves are transparent.
/// </summary>
public static class MatteImages
{
    /// <summary>The alpha matte (H·W values in 0..1) as a grey image.</summary>
    public static MLImage FromAlpha(ReadOnlySpan<float> alpha, int width, int height)
    {
        Check(alpha.Length, width, height, 1, "alpha");
        var bgra = new byte[4 * alpha.Length];
        for (int i = 0; i < alpha.Length; i++)
        {
            byte v = ToByte(alpha[i]);
            (bgra[4 * i], bgra[4 * i + 1], bgra[4 * i + 2], bgra[4 * i + 3]) = (v, v, v, 255);
        }
        return MLImage.CreateFromPixels(width, height, MLPixelFormat.Bgra32, bgra);
    }

    /// <summary>The foreground (3·H·W values in 0..1, planar RGB) as a colour image.</summary>
    public static MLImage FromForeground(ReadOnlySpan<float> foreground, int width, int height)
    {
        Check(foreground.Length, width, height, 3, "foreground");
        int n = width * height;
        var bgra = new byte[4 * n];
        for (int i = 0; i < n; i++)
            (bgra[4 * i], bgra[4 * i + 1], bgra[4 * i + 2], bgra[4 * i + 3]) = (ToByte(foreground[2 * n + i]), ToByte(foreground[n + i]), ToByte(foreground[i]), 255);
        return MLImage.CreateFromPixels(width, height, MLPixelFormat.Bgra32, bgra);
    }

    private static void Check(int length, int width, int height, int planes, string what)
    {
        if (width <= 0 || height <= 0 || length != (long)planes * width * height)
            throw new ArgumentException($"BiVM: a {width}×{height} {what} has {planes}·W·H = {(long)planes * width * height} values, got {length}");
    }

    // Rounded, as matting benchmarks store 8-bit mattes (the same as MatteFrame.AlphaBytes).
    private static byte ToByte(float v) => (byte)Math.Clamp(MathF.Round(v * 255f), 0f, 255f);
}
