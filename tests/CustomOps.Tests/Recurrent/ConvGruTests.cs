using BiVM.CustomOps.Recurrent;

namespace BiVM.CustomOps.Tests.Recurrent;

/// <summary>
/// The ConvGRU arithmetic (<see cref="ConvGru"/>): σ and tanh (MLAS's FMA3 approximations, the specification) within
/// 3.5e-7 of the exact functions on dense sweeps, saturated and NaN-preserving; the vector paths equal the
/// specification bit for bit on both state layouts (a run of values, one repeated value) and every tail length;
/// and the broadcast of a state shape. (GruGlueTests compares against ONNX Runtime's own Sigmoid and Tanh.)
/// </summary>
public unsafe class ConvGruTests
{
    /// <summary>[−20, 20] in steps of 1/64, then [−1, 1] in steps of 1/4096, plus the saturation ends, tiny values and zeros.</summary>
    private static float[] Sweep()
    {
        var v = new List<float>();
        for (int i = -20 * 64; i <= 20 * 64; i++) v.Add(i / 64f);
        for (int i = -4096; i <= 4096; i++) v.Add(i / 4096f);
        v.AddRange([-100f, 100f, -18f, 18f, -9.5f, 9.5f, 44f, -44f, 0f, -0f, 1e-30f, -1e-30f, 1e-6f, -3e-5f]);
        return [.. v];
    }

    private static float[] Random(Random r, int n, double scale)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)((r.NextDouble() * 2 - 1) * scale);
        return v;
    }

    private static void AssertSame(float expected, float actual, string what) =>
        Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual), $"{what}: specification {expected:R}, got {actual:R}");

    [Fact]
    public void Specification_is_within_its_bound_of_the_exact_functions()
    {
        double worstSigmoid = 0, worstTanh = 0;
        foreach (float x in Sweep())
        {
            float s = ConvGru.Sigmoid(x), t = ConvGru.Tanh(x);
            worstSigmoid = Math.Max(worstSigmoid, Math.Abs(s - 1 / (1 + Math.Exp(-(double)x))));
            worstTanh = Math.Max(worstTanh, Math.Abs(t - Math.Tanh(x)));
            Assert.InRange(s, 0f, 1f);
            Assert.InRange(t, -1.0000002f, 1.0000002f); // MLAS's tanh may pass ±1 by an ulp (ORT's Tanh does)
        }
        Assert.True(worstSigmoid <= 3.5e-7, $"σ is {worstSigmoid:E2} from the exact function");
        Assert.True(worstTanh <= 3.5e-7, $"tanh is {worstTanh:E2} from the exact function");
        Assert.True(float.IsNaN(ConvGru.Sigmoid(float.NaN)) && float.IsNaN(ConvGru.Tanh(float.NaN)), "NaN must stay NaN, as ONNX Runtime's");
        Assert.Equal(0f, ConvGru.Tanh(0f));
        // Blend rounds each of the graph's operations: (1 − z)·h + z·tanh(c), here with exact products.
        Assert.Equal(0.25f * 2f + 0.75f * ConvGru.Tanh(0.5f), ConvGru.Blend(0.5f, 0.75f, 2f));
        Assert.Equal(0f, ConvGru.Blend(3f, 0f, 0f));
        Assert.Equal(ConvGru.Sigmoid(3f) * 8f, ConvGru.ResetProduct(3f, 8f));
    }

    /// <summary>The widths this CPU runs (<see cref="ConvGru.BestLanes"/> and the narrower ones), the scalar path included.</summary>
    private static int[] Lanes => [.. new[] { 16, 8, 1 }.Where(l => l <= ConvGru.BestLanes)];

    [Fact]
    public void Sigmoid_vector_paths_are_the_specification_bit_for_bit()
    {
        Assert.True(ConvGru.VectorPath || !System.Runtime.Intrinsics.X86.Avx2.IsSupported, "an AVX2 host without FMA: the vector path is not tested here");
        var g = Sweep().Append(float.NaN).ToArray();
        foreach (int lanes in Lanes)
        {
            var z = new float[g.Length];
            fixed (float* pg = g) fixed (float* pz = z) ConvGru.Sigmoid(pg, pz, g.Length, lanes);
            for (int i = 0; i < g.Length; i++) AssertSame(ConvGru.Sigmoid(g[i]), z[i], $"{lanes} lanes: σ({g[i]:R})");
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Reset_product_and_update_are_the_specification_for_every_length_and_state_layout(bool repeats)
    {
        var r = new Random(repeats ? 3 : 4);
        foreach (int lanes in Lanes)
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
                    ConvGru.ResetProduct(pg, ph, repeats, pr, count, lanes);
                    ConvGru.Update(pc, pz, ph, repeats, pn, count, lanes);
                }
                for (int i = 0; i < count; i++)
                {
                    float hi = repeats ? h[0] : h[i];
                    AssertSame(ConvGru.ResetProduct(g[i], hi), reset[i], $"count {count} [{i}], {lanes} lanes: σ({g[i]:R})·{hi:R}");
                    AssertSame(ConvGru.Blend(c[i], z[i], hi), next[i], $"count {count} [{i}], {lanes} lanes: blend(c {c[i]:R}, z {z[i]:R}, h {hi:R})");
                }
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
