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

    [Theory]
    [InlineData(0)] // the top border row
    [InlineData(1)]
    [InlineData(2)] // the bottom border row
    public unsafe void A_sparse_lists_outputs_are_each_pixels_own_whatever_its_runs(int y)
    {
        // 65 columns: runs of active cells (16 columns) that reach either border, start or end at the columns where the
        // interior ends (64 is the right border, from which a 3×3 with pad 1 reads outside), and gaps of one column.
        var p = BinaryConv2dParams.Square(1, 4, 3, 65, 5, 3);
        var random = new Random(7 + y);
        var weights = Enumerable.Range(0, 5 * 9).Select(_ => (ulong)random.Next(16)).ToArray();
        var correction = new ZeroPaddingCorrection(p, weights);
        int[][] lists =
        [
            [.. Enumerable.Range(0, 16), .. Enumerable.Range(32, 33)],
            [.. Enumerable.Range(16, 49)],
            [.. Enumerable.Range(0, 48), .. Enumerable.Range(49, 16)],
            [.. Enumerable.Range(1, 30), .. Enumerable.Range(32, 17), 50, .. Enumerable.Range(52, 13)],
        ];
        float[] alpha = [0.5f, -1.25f, 2f, 1f, 0.75f], bias = [0.25f, 0f, -3f, 1.5f, 0.125f];
        int* one = stackalloc int[5];
        foreach (var list in lists)
        {
            int count = list.Length;
            var counts = Enumerable.Range(0, 5 * count).Select(_ => random.Next(37)).ToArray();
            var whole = new float[5 * 65];
            var alone = new float[5 * 65];
            fixed (int* xs = list, raw = counts)
            fixed (float* a = alpha, b = bias, o = whole, e = alone)
            {
                correction.Transform(p, y, xs, count, raw, count, a, b, o, 65);
                for (int i = 0; i < count; i++)
                {
                    for (int co = 0; co < 5; co++) one[co] = raw[co * count + i];
                    correction.Transform(p, y, xs + i, 1, one, 1, a, b, e, 65);
                }
            }
            foreach (int x in list)
                for (int co = 0; co < 5; co++)
                    Assert.True(whole[co * 65 + x] == alone[co * 65 + x], $"row {y}, column {x}, channel {co}: {whole[co * 65 + x]} in the list, {alone[co * 65 + x]} alone");
        }
    }

    [Theory]
    [InlineData(1, 1, 8)]   // one 256-bit vector: both edges in it
    [InlineData(1, 1, 15)]
    [InlineData(1, 1, 16)]  // one 512-bit vector
    [InlineData(1, 1, 17)]  // two overlapping vectors
    [InlineData(2, 1, 33)]  // dilation 2: two border columns a side
    [InlineData(2, 1, 70)]
    [InlineData(1, 2, 64)]  // stride 2: one border column, at one side only where the width is even
    [InlineData(1, 2, 65)]
    [InlineData(3, 1, 40)]  // three border columns a side
    public unsafe void A_dense_rows_border_columns_are_each_pixels_own(int dilation, int stride, int width)
    {
        // Whole rows and the segments that hold one row end (their border columns blended into the first and last
        // vectors, which overlap below two vectors), against every pixel alone (the scalar path): every row mask of the
        // layer, on the CPU's vector width (DOTNET_EnableAVX512=0 for AVX2's). The same layer then takes an input 16
        // columns wider and the first again: what it keeps between calls must not depend on the width.
        var random = new Random(width * 7 + dilation + 3 * stride);
        var weights = Enumerable.Range(0, 5 * 9).Select(_ => (ulong)random.Next(16)).ToArray();
        var correction = new ZeroPaddingCorrection(BinaryConv2dParams.Square(1, 4, 7, width, 5, 3, stride: stride, dilation: dilation), weights);
        float[] alpha = [0.5f, -1.25f, 2f, 1f, 0.75f], bias = [0.25f, 0f, -3f, 1.5f, 0.125f];
        int* one = stackalloc int[5];
        foreach (int inWidth in new[] { width, width + 16, width })
        {
            var p = BinaryConv2dParams.Square(1, 4, 7, inWidth, 5, 3, stride: stride, dilation: dilation);
            int outWidth = p.OutWidth;
            int[][] lists =
            [
                [.. Enumerable.Range(0, outWidth)],
                [.. Enumerable.Range(0, Math.Max(4, outWidth - 3))],
                [.. Enumerable.Range(Math.Min(3, outWidth - 4), outWidth - Math.Min(3, outWidth - 4))],
            ];
            for (int y = 0; y < p.OutHeight; y++)
                foreach (var list in lists)
                {
                    int count = list.Length;
                    var counts = Enumerable.Range(0, 5 * count).Select(_ => random.Next(37)).ToArray();
                    var whole = new float[5 * outWidth];
                    var alone = new float[5 * outWidth];
                    fixed (int* xs = list, raw = counts)
                    fixed (float* a = alpha, b = bias, o = whole, e = alone)
                    {
                        correction.Transform(p, y, xs, count, raw, count, a, b, o, outWidth);
                        for (int i = 0; i < count; i++)
                        {
                            for (int co = 0; co < 5; co++) one[co] = raw[co * count + i];
                            correction.Transform(p, y, xs + i, 1, one, 1, a, b, e, outWidth);
                        }
                    }
                    foreach (int x in list)
                        for (int co = 0; co < 5; co++)
                            Assert.True(whole[co * outWidth + x] == alone[co * outWidth + x],
                                $"input width {inWidth}, row {y}, columns {list[0]}–{list[^1]}, column {x}, channel {co}: {whole[co * outWidth + x]} in the row, {alone[co * outWidth + x]} alone");
                }
        }
    }
}
