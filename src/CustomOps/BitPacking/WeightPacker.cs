namespace BiVM.CustomOps.BitPacking;

/// <summary>
/// Packs latent float conv weights into the <c>W</c> initializer of <c>BinaryConv2d</c> / <c>SparseBinaryConv2d</c>.
/// The exporter calls this, so the file and the kernels agree on the layout by construction.
/// </summary>
/// <remarks>
/// Input: PyTorch/ONNX Conv layout [Cout, Cin, kH, kW] (row-major). w = sign(w_latent) with sign(0) = +1
/// (<c>w ≥ 0 → +1</c>, model contract). Output: [Cout, kH, kW, words] uint64 as described in
/// <see cref="PackedLayout"/>; unused high bits of the last word are 0.
/// </remarks>
public static class WeightPacker
{
    /// <summary>Shape of the packed tensor for the given conv shape: [Cout, kH, kW, words].</summary>
    public static long[] PackedShape(int cout, int cin, int kh, int kw) => [cout, kh, kw, PackedLayout.WordsFor(cin)];

    /// <summary>Packs weights of shape [Cout, Cin, kH, kW] into [Cout, kH, kW, words].</summary>
    public static ulong[] Pack(ReadOnlySpan<float> weights, int cout, int cin, int kh, int kw)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cout);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kh);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kw);
        int words = PackedLayout.WordsFor(cin);
        if (weights.Length != (long)cout * cin * kh * kw)
            throw new ArgumentException($"weights has {weights.Length} values, expected Cout·Cin·kH·kW = {cout}·{cin}·{kh}·{kw}.", nameof(weights));
        var packed = new ulong[cout * kh * kw * words];
        for (int co = 0; co < cout; co++)
            for (int ci = 0; ci < cin; ci++)
                for (int ky = 0; ky < kh; ky++)
                    for (int kx = 0; kx < kw; kx++)
                    {
                        float w = weights[((co * cin + ci) * kh + ky) * kw + kx];
                        packed[((co * kh + ky) * kw + kx) * words + ci / 64] |= PackedLayout.SignBit(w) << (ci % 64);
                    }
        return packed;
    }

    /// <summary>The ±1 weights a packed tensor stands for, back in [Cout, Cin, kH, kW] order (for lowering and tests).</summary>
    public static float[] Unpack(ReadOnlySpan<ulong> packed, int cout, int cin, int kh, int kw)
    {
        int words = PackedLayout.WordsFor(cin);
        if (packed.Length != cout * kh * kw * words)
            throw new ArgumentException($"packed has {packed.Length} words, expected {cout}·{kh}·{kw}·{words}.", nameof(packed));
        var signs = new float[cout * cin * kh * kw];
        for (int co = 0; co < cout; co++)
            for (int ci = 0; ci < cin; ci++)
                for (int ky = 0; ky < kh; ky++)
                    for (int kx = 0; kx < kw; kx++)
                    {
                        ulong word = packed[((co * kh + ky) * kw + kx) * words + ci / 64];
                        signs[((co * cin + ci) * kh + ky) * kw + kx] = ((word >> (ci % 64)) & 1) != 0 ? -1f : 1f;
                    }
        return signs;
    }
}
