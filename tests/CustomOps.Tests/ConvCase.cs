using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.BitPacking;

namespace BiVM.CustomOps.Tests;

/// <summary>A random layer and input: latent weights, alpha (some negative, as after BN folding), tau, bias, x.</summary>
public sealed class ConvCase
{
    public ConvCase(BinaryConv2dParams p, int seed, bool withBias = true)
    {
        P = p;
        // The layer depends only on the seed and the attributes, the input also on its size: the same seed with
        // another input size is the same layer on another input.
        var rng = new Random(seed);
        Tau = Fill(rng, p.InChannels, 0.3f);
        Latent = Fill(rng, p.OutChannels * p.InChannels * p.Taps, 1f);
        for (int i = 0; i < Latent.Length; i += 11) Latent[i] = 0f;
        Alpha = Fill(rng, p.OutChannels, 0.5f);
        Bias = withBias ? Fill(rng, p.OutChannels, 0.2f) : [];
        X = Fill(new Random(seed + 7919), p.Batch * p.InChannels * p.InHeight * p.InWidth, 1f);
        // Exact ties x == tau on some entries pin sign(0) = +1.
        for (int i = 0; i < X.Length; i += 7) X[i] = Tau[i / (p.InHeight * p.InWidth) % p.InChannels];
        PackedWeights = WeightPacker.Pack(Latent, p.OutChannels, p.InChannels, p.KernelHeight, p.KernelWidth);
    }

    public BinaryConv2dParams P { get; }
    public float[] X { get; }
    public float[] Tau { get; }
    public float[] Latent { get; }
    public float[] Alpha { get; }
    public float[] Bias { get; }
    public ulong[] PackedWeights { get; }

    public override string ToString() =>
        $"{P.KernelHeight}x{P.KernelWidth} {P.InChannels}->{P.OutChannels} @{P.InHeight}x{P.InWidth} s{P.StrideHeight} d{P.DilationHeight} pad[{P.PadTop},{P.PadLeft},{P.PadBottom},{P.PadRight}] N{P.Batch}";

    private static float[] Fill(Random rng, int n, float scale)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>
    /// The independent oracle: a float convolution on ±1 data (sign by comparison, sign(0) = +1) with zero padding,
    /// computed without any bit packing.
    /// </summary>
    public int[] OracleDots()
    {
        var p = P;
        int hOut = p.OutHeight, wOut = p.OutWidth, hw = p.InHeight * p.InWidth;
        var a = new float[X.Length];
        for (int i = 0; i < X.Length; i++) a[i] = X[i] - Tau[i / hw % p.InChannels] >= 0 ? 1f : -1f;
        var w = Latent.Select(v => v >= 0 ? 1f : -1f).ToArray();
        var dots = new int[p.Batch * p.OutChannels * hOut * wOut];
        for (int n = 0; n < p.Batch; n++)
            for (int co = 0; co < p.OutChannels; co++)
                for (int y = 0; y < hOut; y++)
                    for (int x = 0; x < wOut; x++)
                    {
                        double sum = 0;
                        for (int ci = 0; ci < p.InChannels; ci++)
                            for (int ky = 0; ky < p.KernelHeight; ky++)
                                for (int kx = 0; kx < p.KernelWidth; kx++)
                                {
                                    int iy = y * p.StrideHeight - p.PadTop + ky * p.DilationHeight;
                                    int ix = x * p.StrideWidth - p.PadLeft + kx * p.DilationWidth;
                                    float v = iy < 0 || iy >= p.InHeight || ix < 0 || ix >= p.InWidth ? 0f
                                        : a[((n * p.InChannels + ci) * p.InHeight + iy) * p.InWidth + ix];
                                    sum += v * w[((co * p.InChannels + ci) * p.KernelHeight + ky) * p.KernelWidth + kx];
                                }
                        dots[((n * p.OutChannels + co) * hOut + y) * wOut + x] = (int)sum;
                    }
        return dots;
    }

    /// <summary>alpha·dot + bias with the same two float roundings the op promises.</summary>
    public float[] Expected(int[] dots)
    {
        int plane = P.OutHeight * P.OutWidth;
        var y = new float[dots.Length];
        for (int i = 0; i < dots.Length; i++)
        {
            int co = i / plane % P.OutChannels;
            float product = dots[i] * Alpha[co];
            y[i] = product + (Bias.Length == 0 ? 0f : Bias[co]);
        }
        return y;
    }

    public BinaryConvolution Prepare(string? kernel = null) => new(P, PackedWeights, Alpha, Tau, Bias, kernel);

    /// <summary>The shapes every optimized path is checked on: odd channels, odd sizes, stride 2, dilation 2, borders, batch 2.</summary>
    public static IEnumerable<BinaryConv2dParams> Shapes()
    {
        yield return BinaryConv2dParams.Square(1, 3, 7, 9, 5, 3);
        yield return BinaryConv2dParams.Square(2, 17, 9, 11, 6, 3);
        yield return BinaryConv2dParams.Square(1, 64, 8, 13, 8, 3);
        yield return BinaryConv2dParams.Square(1, 65, 5, 17, 9, 3, stride: 2);
        yield return BinaryConv2dParams.Square(1, 130, 6, 7, 4, 3, dilation: 2);
        yield return BinaryConv2dParams.Square(2, 64, 11, 10, 7, 3, stride: 2);
        yield return BinaryConv2dParams.Square(1, 17, 12, 12, 3, 3, stride: 2, dilation: 2);
        yield return BinaryConv2dParams.Square(1, 130, 5, 19, 12, 1);
        yield return BinaryConv2dParams.Square(2, 65, 6, 9, 5, 1, stride: 2);
        yield return BinaryConv2dParams.Square(1, 33, 5, 6, 4, 3, pad: 0);
        yield return BinaryConv2dParams.Square(1, 17, 4, 5, 4, 3, pad: 2); // every output touches padding
        yield return new BinaryConv2dParams(1, 20, 7, 21, 6, 3, 3, 1, 2, 2, 1, 0, 2, 1, 0); // asymmetric everything
        yield return BinaryConv2dParams.Square(1, 3, 1, 1, 2, 3); // single pixel: only the centre tap is inside
        yield return BinaryConv2dParams.Square(1, 32, 9, 14, 8, 3, stride: 2); // Cin = 32: two taps fill a word exactly
        yield return BinaryConv2dParams.Square(1, 16, 6, 70, 8, 3); // Cin = 16: four taps fill a word exactly (9 taps: 3 words), whole 32-pixel blocks
        yield return BinaryConv2dParams.Square(2, 16, 9, 14, 5, 3, stride: 2); // four taps a word, strided (the lane-by-lane gather)
        yield return BinaryConv2dParams.Square(2, 31, 7, 6, 5, 3, dilation: 2);
        yield return BinaryConv2dParams.Square(2, 20, 7, 9, 5, 1, stride: 2); // 1×1, Cin ≤ 32 (one tap in a shared word), odd rows skipped
        yield return BinaryConv2dParams.Square(1, 70, 5, 6, 4, 1, pad: 1); // 1×1 with padding: the two-pass path
        yield return BinaryConv2dParams.Square(2, 35, 3, 29, 6, 1); // 1×1, one word, stride 1: the pointwise path (8-pixel chunks and a tail)
        yield return BinaryConv2dParams.Square(1, 64, 2, 16, 5, 1); // the same with a full word and Cout not a multiple of 4
        // Rows of 16 pixels or more: the output stage's whole-row pass (a vector ending at the last column where the
        // width is no multiple of 16) with the border columns written again, several per side with a 5×5 kernel at
        // dilation 2, and rows long enough to be split into segments.
        yield return BinaryConv2dParams.Square(1, 19, 5, 37, 6, 3);
        yield return BinaryConv2dParams.Square(1, 9, 9, 40, 5, 5, dilation: 2);
        yield return BinaryConv2dParams.Square(1, 64, 3, 700, 8, 3);
        // One word a tap (Cin = 64) on long rows at dilation 2, and with padding 2 (a border of two columns and rows), batch 2.
        yield return BinaryConv2dParams.Square(1, 64, 6, 75, 8, 3, dilation: 2);
        yield return BinaryConv2dParams.Square(2, 64, 5, 100, 12, 3, pad: 2);
        // A 7×7 kernel (kH + kW > 10): the border correction keeps its δ in a dictionary instead of the masks' table.
        yield return BinaryConv2dParams.Square(1, 9, 8, 21, 4, 7);
        // Blocks of pixels wholly inside the row with two and with four words per pixel (the gather's deinterleave and
        // its lane-by-lane copy).
        yield return BinaryConv2dParams.Square(1, 100, 4, 40, 6, 3);
        yield return BinaryConv2dParams.Square(1, 200, 3, 35, 5, 3);
        // Bit-tight taps (32 < Cin < 64, TapBits = Cin): taps starting inside a word and spilling into the next, the
        // last word partly empty; whole 32-pixel blocks at stride 1 (the vector copies), strided and dilated (lane by
        // lane), 56 channels (eight words, the last tap ending on a word's end), 57 (no word saved: whole words again),
        // a 5×5 (19 words instead of 25).
        yield return BinaryConv2dParams.Square(1, 35, 5, 70, 8, 3);
        yield return BinaryConv2dParams.Square(2, 40, 7, 9, 5, 3, stride: 2);
        yield return BinaryConv2dParams.Square(1, 56, 6, 40, 6, 3, dilation: 2);
        yield return BinaryConv2dParams.Square(1, 57, 4, 9, 5, 3);
        yield return BinaryConv2dParams.Square(1, 48, 6, 36, 5, 5);
    }
}
