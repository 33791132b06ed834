using System.Numerics;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// The specification of the integer part: plain nested loops over XOR + popcount on packed data.
/// dot[n, co, y, x] = Σ over taps inside the image of (Cin − 2·popcount(a XOR w)); taps that fall into the
/// zero padding are skipped, because a zero-padded position contributes 0, which is not a ±1 value.
/// </summary>
public static class ReferenceBinaryConv2d
{
    /// <summary>
    /// Integer conv of packed activations [N, H, W, words] with packed weights [Cout, kH, kW, words];
    /// returns [N, Cout, H_out, W_out].
    /// </summary>
    public static int[] Run(BinaryConv2dParams p, ReadOnlySpan<ulong> activations, ReadOnlySpan<ulong> weights)
    {
        int words = p.Words, hOut = p.OutHeight, wOut = p.OutWidth;
        if (activations.Length != (long)p.Batch * p.InHeight * p.InWidth * words) throw new ArgumentException("activations size", nameof(activations));
        if (weights.Length != p.OutChannels * p.PatchWords) throw new ArgumentException("weights size", nameof(weights));
        var dot = new int[p.Batch * p.OutChannels * hOut * wOut];
        for (int n = 0; n < p.Batch; n++)
            for (int co = 0; co < p.OutChannels; co++)
                for (int y = 0; y < hOut; y++)
                    for (int x = 0; x < wOut; x++)
                    {
                        int sum = 0;
                        for (int ky = 0; ky < p.KernelHeight; ky++)
                        {
                            int iy = y * p.StrideHeight - p.PadTop + ky * p.DilationHeight;
                            if (iy < 0 || iy >= p.InHeight) continue;
                            for (int kx = 0; kx < p.KernelWidth; kx++)
                            {
                                int ix = x * p.StrideWidth - p.PadLeft + kx * p.DilationWidth;
                                if (ix < 0 || ix >= p.InWidth) continue;
                                int disagree = 0;
                                for (int wi = 0; wi < words; wi++)
                                    disagree += BitOperations.PopCount(
                                        activations[((n * p.InHeight + iy) * p.InWidth + ix) * words + wi] ^
                                        weights[((co * p.KernelHeight + ky) * p.KernelWidth + kx) * words + wi]);
                                sum += p.InChannels - 2 * disagree;
                            }
                        }
                        dot[((n * p.OutChannels + co) * hOut + y) * wOut + x] = sum;
                    }
        return dot;
    }
}
