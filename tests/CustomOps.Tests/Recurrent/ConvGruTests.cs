using BiVM.CustomOps.Recurrent;

namespace BiVM.CustomOps.Tests.Recurrent;

/// <summary>
/// The ConvGRU arithmetic (<see cref="ConvGru"/>): the vector paths against the specification (σ and tanh exact in
/// float64, rounded once; everything else the unfused graph's float32 operations), on dense sweeps, both state
/// layouts (a run of values, one repeated value) and every tail length; and the broadcast of a state shape.
/// </summary>
public unsafe class ConvGruTests
{
    /// <summary>[−20, 20] in steps of 1/64, then [−1, 1] in steps of 1/4096, plus the saturation ends and zeros.</summary>
    private static float[] Sweep()
    {
        var v = new List<float>();
        for (int i = -20 * 64; i <= 20 * 64; i++) v.Add(i / 64f);
        for (int i = -4096; i <= 4096; i++) v.Add(i / 4096f);
        v.AddRange([-100f, 100f, -9.5f, 9.5f, 44f, -44f, 0f, -0f, 1e-30f, -1e-30f]);
        return [.. v];
    }

    private static float[] Random(Random r, int n, double scale)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)((r.NextDouble() * 2 - 1) * scale);
        return v;
    }

    /// <summary>Half an ulp of |v| in float32 (one rounding of a value of that size).</summary>
    private static double HalfUlp(double v) => Math.Max(Math.Abs(v), 1e-38) * Math.Pow(2, -24);

    [Fact]
    public void Specification_is_the_exact_function_rounded_once()
    {
        foreach (float x in Sweep())
        {
            Assert.Equal((float)(1 / (1 + Math.Exp(-(double)x))), ConvGru.Sigmoid(x));
            Assert.Equal((float)Math.Tanh(x), ConvGru.Tanh(x));
        }
        // Blend rounds each of the graph's operations: (1 − z)·h + z·tanh(c), here with exact products.
        Assert.Equal(0.25f * 2f + 0.75f * ConvGru.Tanh(0.5f), ConvGru.Blend(0.5f, 0.75f, 2f));
        Assert.Equal(0f, ConvGru.Blend(3f, 0f, 0f));
        Assert.Equal(8f, ConvGru.ResetProduct(100f, 8f));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Sigmoid_vector_path_is_within_its_bound_of_the_specification(bool vector)
    {
        var g = Sweep();
        var z = new float[g.Length];
        fixed (float* pg = g) fixed (float* pz = z) ConvGru.Sigmoid(pg, pz, g.Length, vector);
        double worst = 0;
        for (int i = 0; i < g.Length; i++)
        {
            double d = Math.Abs(z[i] - (double)ConvGru.Sigmoid(g[i]));
            worst = Math.Max(worst, d);
            Assert.True(vector ? d <= ConvGru.VectorError : d == 0, $"σ({g[i]:R}) = {z[i]:R}, specification {ConvGru.Sigmoid(g[i]):R}");
            Assert.InRange(z[i], 0f, 1f);
        }
        if (vector) Assert.True(worst > 0, "the vector path is the specification: the test would not see a wrong bound");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Reset_product_and_update_are_within_the_bound_for_every_length_and_state_layout(bool repeats)
    {
        var r = new Random(repeats ? 3 : 4);
        for (int count = 0; count <= 41; count++)
        {
            var g = Random(r, count, 12);
            var c = Random(r, count, 12);
            var z = g.Select(ConvGru.Sigmoid).ToArray();
            var h = repeats ? [(float)(r.NextDouble() * 6 - 3)] : Random(r, count, 3);
            var reset = new float[count];
            var next = new float[count];
            fixed (float* pg = g) fixed (float* pc = c) fixed (float* pz = z) fixed (float* ph = h) fixed (float* pr = reset) fixed (float* pn = next)
            {
                ConvGru.ResetProduct(pg, ph, repeats, pr, count);
                ConvGru.Update(pc, pz, ph, repeats, pn, count);
            }
            for (int i = 0; i < count; i++)
            {
                float hi = repeats ? h[0] : h[i];
                // σ off by at most VectorError, times |h|, plus the product's own rounding.
                double resetBound = ConvGru.VectorError * Math.Abs(hi) + 2 * HalfUlp(reset[i]);
                Assert.True(Math.Abs(reset[i] - (double)ConvGru.ResetProduct(g[i], hi)) <= resetBound,
                    $"count {count} [{i}]: σ({g[i]:R})·{hi:R} = {reset[i]:R}, specification {ConvGru.ResetProduct(g[i], hi):R}");
                double updateBound = ConvGru.VectorError * z[i] + 4 * HalfUlp(Math.Abs(next[i]) + Math.Abs(hi));
                Assert.True(Math.Abs(next[i] - (double)ConvGru.Blend(c[i], z[i], hi)) <= updateBound,
                    $"count {count} [{i}]: blend(c {c[i]:R}, z {z[i]:R}, h {hi:R}) = {next[i]:R}, specification {ConvGru.Blend(c[i], z[i], hi):R}");
            }
        }
    }

    [Fact]
    public void Scalar_paths_are_the_specification_bit_for_bit()
    {
        var r = new Random(9);
        const int count = 37;
        var g = Random(r, count, 10);
        var h = Random(r, count, 2);
        var z = new float[count];
        var reset = new float[count];
        var next = new float[count];
        fixed (float* pg = g) fixed (float* ph = h) fixed (float* pz = z) fixed (float* pr = reset) fixed (float* pn = next)
        {
            ConvGru.Sigmoid(pg, pz, count, vector: false);
            ConvGru.ResetProduct(pg, ph, false, pr, count, vector: false);
            ConvGru.Update(pg, pz, ph, false, pn, count, vector: false);
        }
        for (int i = 0; i < count; i++)
        {
            Assert.Equal(ConvGru.Sigmoid(g[i]), z[i]);
            Assert.Equal(ConvGru.ResetProduct(g[i], h[i]), reset[i]);
            Assert.Equal(ConvGru.Blend(g[i], z[i], h[i]), next[i]);
        }
    }

    [Fact]
    public void State_broadcast_follows_onnx_expand()
    {
        long[] target = [2, 3, 4, 5];
        Assert.Equal(new StateBroadcast(0, 0, 0, true), StateBroadcast.Of([1, 1, 1, 1], target, out _));
        Assert.Equal(new StateBroadcast(0, 0, 0, true), StateBroadcast.Of([1], target, out _));
        Assert.Equal(new StateBroadcast(60, 20, 5, false), StateBroadcast.Of([2, 3, 4, 5], target, out _));
        Assert.Equal(new StateBroadcast(0, 1, 0, true), StateBroadcast.Of([3, 1, 1], target, out _));
        Assert.Equal(new StateBroadcast(0, 0, 1, true), StateBroadcast.Of([1, 1, 4, 1], target, out _));
        var full = StateBroadcast.Of([2, 3, 4, 5], target, out _)!.Value;
        Assert.Equal(60 + 2 * 20 + 3 * 5, full.RowOffset(1, 2, 3));
        Assert.True(full.PlaneIsOneRun(4, 5));
        Assert.True(StateBroadcast.Of([1], target, out _)!.Value.PlaneIsOneRun(4, 5));
        Assert.False(StateBroadcast.Of([1, 1, 4, 1], target, out _)!.Value.PlaneIsOneRun(4, 5));
        Assert.Null(StateBroadcast.Of([2, 2, 4, 5], target, out string error));
        Assert.Equal("dim 1 is 2, neither 1 nor 3", error);
        Assert.Null(StateBroadcast.Of([1, 1, 1, 1, 1], target, out error));
        Assert.Equal("rank 5 is more than 4", error);
    }
}
