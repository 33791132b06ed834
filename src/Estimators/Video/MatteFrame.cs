namespace BiVM.Estimators.Video;

/// <summary>The matting result of one frame.</summary>
/// <param name="Width">Frame width in pixels.</param>
/// <param name="Height">Frame height in pixels.</param>
/// <param name="Alpha">H·W alpha values in 0..1, row-major.</param>
/// <param name="Foreground">3·H·W foreground values in 0..1, planar RGB (all R, then all G, then all B).</param>
public sealed record MatteFrame(int Width, int Height, float[] Alpha, float[] Foreground)
{
    /// <summary>Composites the foreground over a solid colour: C = α·F + (1 − α)·B, as interleaved RGB bytes.</summary>
    public byte[] CompositeRgb24(byte red, byte green, byte blue)
    {
        var background = new byte[3 * Width * Height];
        for (int i = 0; i < background.Length; i += 3)
        {
            background[i] = red;
            background[i + 1] = green;
            background[i + 2] = blue;
        }
        return CompositeRgb24(background);
    }

    /// <summary>Composites the foreground over a background of the same size given as interleaved RGB bytes.</summary>
    public byte[] CompositeRgb24(ReadOnlySpan<byte> backgroundRgb)
    {
        int n = Width * Height;
        if (backgroundRgb.Length != 3 * n)
            throw new ArgumentException($"background has {backgroundRgb.Length} bytes, a {Width}×{Height} RGB frame needs {3 * n}");
        var rgb = new byte[3 * n];
        const float scale = 1f / 255f;
        for (int c = 0; c < 3; c++)
        {
            var fg = Foreground.AsSpan(c * n, n);
            for (int i = 0; i < n; i++)
            {
                float a = Alpha[i];
                rgb[3 * i + c] = ToByte(a * fg[i] + (1f - a) * backgroundRgb[3 * i + c] * scale);
            }
        }
        return rgb;
    }

    /// <summary>The foreground as interleaved RGB bytes.</summary>
    public byte[] ForegroundRgb24()
    {
        int n = Width * Height;
        var rgb = new byte[3 * n];
        for (int c = 0; c < 3; c++)
        {
            var fg = Foreground.AsSpan(c * n, n);
            for (int i = 0; i < n; i++) rgb[3 * i + c] = ToByte(fg[i]);
        }
        return rgb;
    }

    /// <summary>The alpha matte as 8-bit grey values (rounded, as matting benchmarks store it).</summary>
    public byte[] AlphaBytes()
    {
        var bytes = new byte[Alpha.Length];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = ToByte(Alpha[i]);
        return bytes;
    }

    private static byte ToByte(float v) => (byte)Math.Clamp(MathF.Round(v * 255f), 0f, 255f);
}
