using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.SparseBinaryConv2d;
using Xunit.Abstractions;

namespace BiVM.CustomOps.Tests.SparseBinaryConv2d;

public unsafe class SparseBinaryConvolutionTests(ITestOutputHelper output)
{
    public static TheoryData<string, int> KernelsAndScales()
    {
        var data = new TheoryData<string, int>();
        foreach (var k in KernelSelector.SupportedNames)
            foreach (var s in new[] { 1, 2, 4 })
                data.Add(k, s);
        return data;
    }

    private static float[] Dense(ConvCase c, string kernel)
    {
        var p = c.P;
        using var conv = c.Prepare(kernel);
        var y = new float[p.Batch * p.OutChannels * p.OutHeight * p.OutWidth];
        conv.Run(c.X, p.Batch, p.InHeight, p.InWidth, y);
        return y;
    }

    private static float[] Sparse(ConvCase c, string kernel, byte[] mask, int scale)
    {
        var p = c.P;
        using var conv = c.Prepare(kernel);
        var sparse = new SparseBinaryConvolution(conv, scale);
        var y = Enumerable.Repeat(float.NaN, p.Batch * p.OutChannels * p.OutHeight * p.OutWidth).ToArray();
        fixed (float* px = c.X) fixed (float* py = y) fixed (byte* pm = mask)
            sparse.Run(px, p.Batch, p.InHeight, p.InWidth, pm, py, ParallelRunners.Threads(2));
        return y;
    }

    [Theory]
    [MemberData(nameof(KernelsAndScales))]
    public void All_ones_mask_equals_dense(string kernel, int scale)
    {
        foreach (var p in ConvCase.Shapes().Where(s => s.KernelHeight == 3))
        {
            var c = new ConvCase(p, 11);
            var (mh, mw) = MaskGeometry.MaskSize(p.OutHeight, p.OutWidth, scale);
            Assert.Equal(Dense(c, kernel), Sparse(c, kernel, Enumerable.Repeat((byte)1, p.Batch * mh * mw).ToArray(), scale));
        }
        output.WriteLine($"kernel {kernel}, mask_scale {scale}: exercised");
    }

    [Theory]
    [MemberData(nameof(KernelsAndScales))]
    public void Partial_mask_equals_dense_where_active_and_zero_elsewhere(string kernel, int scale)
    {
        foreach (var (p, i) in ConvCase.Shapes().Where(s => s.KernelHeight == 3).Select((p, i) => (p, i)))
        {
            var c = new ConvCase(p, 20 + i);
            var (mh, mw) = MaskGeometry.MaskSize(p.OutHeight, p.OutWidth, scale);
            var rng = new Random(i);
            var mask = Enumerable.Range(0, p.Batch * mh * mw).Select(_ => (byte)(rng.Next(3) == 0 ? 1 : 0)).ToArray();
            var dense = Dense(c, kernel);
            var sparse = Sparse(c, kernel, mask, scale);
            int hOut = p.OutHeight, wOut = p.OutWidth;
            for (int j = 0; j < dense.Length; j++)
            {
                int x = j % wOut, y = j / wOut % hOut, n = j / (wOut * hOut * p.OutChannels);
                bool active = mask[(n * mh + y / scale) * mw + x / scale] != 0;
                Assert.True((active ? dense[j] : 0f) == sparse[j], $"{c} k{scale} at n{n} y{y} x{x}: {sparse[j]} vs {(active ? dense[j] : 0f)}");
            }
        }
    }

    [Fact]
    public void Active_runs_merge_adjacent_cells_and_crop_at_the_edge()
    {
        byte[] mask = [1, 1, 0, 1];
        var runs = new int[8];
        fixed (byte* m = mask)
        {
            int n = MaskGeometry.ActiveRuns(m, 1, 4, 4, 0, 3, 14, runs); // W_out = 14 → last cell covers 12..13
            Assert.Equal(2, n);
            Assert.Equal(new[] { 0, 8, 12, 14 }, runs[..4]);
        }
        Assert.Equal((3, 4), MaskGeometry.MaskSize(9, 14, 4));
    }

    [Fact]
    public void Runs_closer_than_the_gap_join_into_stretches()
    {
        // Runs [0, 16), [32, 48), [112, 128), [176, 192) with a gap of 64: the first two join (16 apart), the third is 64
        // after the second (not fewer), and the fourth 48 after the third.
        int[] runs = [0, 16, 32, 48, 112, 128, 176, 192];
        Assert.Equal(2, MaskGeometry.Stretches(runs, 4, 64));
        Assert.Equal(new[] { 0, 48, 112, 192 }, runs[..4]);
        int[] one = [5, 9];
        Assert.Equal(1, MaskGeometry.Stretches(one, 1, 64));
        Assert.Equal(new[] { 5, 9 }, one);
        Assert.Equal(0, MaskGeometry.Stretches(Span<int>.Empty, 0, 64));
    }

    [Fact]
    public void Bad_scale_is_refused()
    {
        var c = new ConvCase(BinaryConv2dParams.Square(1, 3, 4, 4, 2, 3), 0);
        using var conv = c.Prepare();
        Assert.Contains("mask_scale must be one of", Assert.Throws<ArgumentException>(() => new SparseBinaryConvolution(conv, 3)).Message);
    }
}
