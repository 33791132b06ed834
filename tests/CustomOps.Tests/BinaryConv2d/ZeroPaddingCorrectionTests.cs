using BiVM.CustomOps.BinaryConv2d;

namespace BiVM.CustomOps.Tests.BinaryConv2d;

public class ZeroPaddingCorrectionTests
{
    [Fact]
    public void Valid_taps_follow_stride_dilation_and_padding()
    {
        var p = BinaryConv2dParams.Square(1, 4, 5, 5, 4, 3, stride: 2, dilation: 2); // pad 2
        Assert.Equal(0b110UL, ZeroPaddingCorrection.ValidRows(p, 0));   // rows −2, 0, 2
        Assert.Equal(0b111UL, ZeroPaddingCorrection.ValidRows(p, 1));   // 0, 2, 4
        Assert.Equal(0b011UL, ZeroPaddingCorrection.ValidColumns(p, 2)); // 2, 4, 6
    }

    [Fact]
    public unsafe void Border_dot_excludes_padded_taps_exactly()
    {
        // All activations +1 (raw popcount of a tap = popcount of its weights), 1 channel, 3×3 weights all −1:
        // a corner output sees 4 taps inside, so dot = −4, not −9.
        var p = BinaryConv2dParams.Square(1, 1, 3, 3, 1, 3);
        var weights = Enumerable.Repeat(1UL, 9).ToArray();
        var correction = new ZeroPaddingCorrection(p, weights);
        int* counts = stackalloc int[3];
        counts[0] = 9; counts[1] = 9; counts[2] = 9; // what the kernel counts for the first output row
        int* xs = stackalloc int[] { 0, 1, 2 };
        float alpha = 1, bias = 0; // y = dot, exactly
        float* y = stackalloc float[3];
        correction.Transform(p, 0, xs, 3, counts, 3, &alpha, &bias, y, 9);
        Assert.Equal(-4f, y[0]);
        Assert.Equal(-6f, y[1]);
        Assert.Equal(-4f, y[2]);
        Assert.Equal(9, counts[0]); // the counts are read, not rewritten
    }
}
