using BiVM.Contracts;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.CustomOps.Pooling;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

namespace BiVM.CustomOps.Tests.Pooling;

/// <summary>
/// ChannelMean against ONNX Runtime's own GlobalAveragePool on the same values, bit for bit: plane sizes around the
/// four-value steps (1 to 9, BiVM's 576 at 512×288, odd sizes), channel counts around the eight planes run side by side,
/// ranks 3 to 5, values that tell summation orders apart (terms of 1e7 beside small ones, ±0, NaN, infinities,
/// subnormals), ONNX Runtime's highest optimization level (where it pools some channel counts in its blocked layout), one
/// and two threads; the interleaved path against the specification; and the refusals, one line each.
/// </summary>
public unsafe class ChannelMeanTests
{
    /// <summary>
    /// Values whose sums tell orders apart: terms of 1e7 beside small ones; with <paramref name="special"/>, every third
    /// plane of <paramref name="plane"/> values also holds ±0, NaN, infinities and subnormals (the other planes stay finite).
    /// </summary>
    private static float[] Values(int n, int seed, bool special, int plane = 1)
    {
        var r = new Random(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++)
        {
            v[i] = (float)(r.NextDouble() * 2 - 1) * MathF.Pow(2, r.Next(-8, 8)) + (i % 13 == 5 ? 1e7f : 0f);
            if (special && i / plane % 3 == 0)
                v[i] = (i % 31) switch
                {
                    3 => -0f,
                    7 => 0f,
                    11 => float.NaN,
                    13 => i % 2 == 0 ? float.PositiveInfinity : float.NegativeInfinity,
                    17 => 1e-42f * (r.Next(2) * 2 - 1),
                    _ => v[i],
                };
        }
        return v;
    }

    /// <summary>
    /// X doubled by a ShortcutSum (exact), then its means by ChannelMean (<paramref name="fused"/>) or by ONNX Runtime's
    /// GlobalAveragePool at its highest level: fed by one of our ops, as in BiVM's LR-ASPP, it runs MLAS's NCHW kernel
    /// (fed by a graph input it would pool channel counts in multiples of its block in its NCHWc layout instead).
    /// Without <paramref name="viaSum"/> X itself (ShortcutSum takes rank 4 only): compare at the EXTENDED level then,
    /// where ONNX Runtime always runs MLAS's NCHW kernel.
    /// </summary>
    private static float[] Run(bool fused, float[] x, long[] shape, int threads, GraphOptimizationLevel level = GraphOptimizationLevel.ORT_ENABLE_ALL, bool viaSum = true)
    {
        var g = new OnnxGraphBuilder("mean");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, shape.Select(d => (Dim)d).ToArray());
        if (viaSum)
            g.Node(BinaryConvSchema.ShortcutSum, ["X", "X"], ["S"], "sum", BinaryConvSchema.Domain)
                .Attribute(BinaryConvSchema.ShortcutSumScales, [1f]).Attribute(BinaryConvSchema.ShortcutSumRepeats, [1L]);
        else g.Node("Identity", ["X"], ["S"], "sum");
        if (fused) g.Node(BinaryConvSchema.ChannelMean, ["S"], ["Y"], "mean", BinaryConvSchema.Domain);
        else g.Node("GlobalAveragePool", ["S"], ["Y"], "mean");
        g.Output("Y", TensorProto.Types.DataType.Float, [shape[0], shape[1], .. Enumerable.Repeat((Dim)1L, shape.Length - 2)]);
        using var options = new SessionOptions { IntraOpNumThreads = threads, GraphOptimizationLevel = level };
        BiVMOps.Register(options);
        using var session = new InferenceSession(g.ToBytes(), options);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, shape.Select(d => (int)d).ToArray()))]);
        return results[0].AsTensor<float>().ToArray();
    }

    [Theory]
    [InlineData(1024, 18, 32, 1, false)] // BiVM's LR-ASPP pool at 512×288
    [InlineData(1024, 18, 32, 2, true)]
    [InlineData(128, 18, 32, 1, true)]
    [InlineData(16, 1, 1, 1, true)]      // one value a plane: no four-value step
    [InlineData(9, 1, 3, 1, true)]       // three: the remainder only
    [InlineData(17, 1, 5, 2, true)]      // one step and one more; planes beyond two groups of eight
    [InlineData(8, 3, 3, 1, true)]
    [InlineData(23, 7, 11, 2, false)]    // 77: odd sizes, a group of eight and seven planes alone
    [InlineData(64, 135, 240, 1, false)] // a plane of 32 400 values
    [InlineData(7, 2, 2, 1, true)]       // fewer planes than a group
    public void The_op_gives_onnx_runtimes_global_average_pool_bit_for_bit(int channels, int h, int w, int threads, bool special)
    {
        long[] shape = [1, channels, h, w];
        var x = Values(channels * h * w, channels * 31 + h * 7 + w, special, h * w);
        var actual = Run(true, x, shape, threads);
        OrtBits.AssertSame(Run(false, x, shape, threads), actual, $"{channels}×{h}×{w}");
        OrtBits.AssertSame(Run(false, x, shape, threads, GraphOptimizationLevel.ORT_ENABLE_EXTENDED), actual, $"{channels}×{h}×{w} (EXTENDED)");
        Assert.Contains(actual, float.IsFinite);
    }

    [Theory]
    [InlineData(2, 5, 6)]      // rank 3, two images
    [InlineData(3, 4, 0)]      // rank 5: [N, C, 3, 4, 5]
    public void Other_ranks_and_batches_give_onnx_runtimes_bits(int batch, int channels, int rank5)
    {
        long[] shape = rank5 == 0 ? [batch, channels, 3, 4, 5] : [batch, channels, 37];
        var x = Values((int)shape.Aggregate(1L, (a, d) => a * d), batch * 11 + channels, special: true, (int)(shape.Aggregate(1L, (a, d) => a * d) / batch / channels));
        OrtBits.AssertSame(Run(false, x, shape, 1, GraphOptimizationLevel.ORT_ENABLE_EXTENDED, viaSum: false), Run(true, x, shape, 1, viaSum: false), string.Join("×", shape));
    }

    [Fact]
    public void Empty_planes_are_refused_as_onnx_runtime_refuses_them_and_no_image_gives_no_means()
    {
        long[] shape = [1, 3, 0, 4];
        Assert.Contains("Only N can be zero", Assert.ThrowsAny<OnnxRuntimeException>(() => Run(false, [], shape, 1, GraphOptimizationLevel.ORT_ENABLE_EXTENDED, viaSum: false)).Message);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => Run(true, [], shape, 1, viaSum: false));
        Assert.Contains("X [1, 3, 0, 4] has empty channel planes: only N can be zero", e.Message);
        Assert.DoesNotContain('\n', e.Message.Trim());
        Assert.Empty(Run(true, [], [0, 3, 2, 2], 1, viaSum: false));
    }

    [Fact]
    public void The_interleaved_planes_give_the_specifications_bits_and_the_order_matters()
    {
        foreach (long count in new long[] { 1, 3, 4, 5, 8, 576, 579, 1000 })
        {
            const int planes = 19; // two groups of eight and three alone
            var x = Values((int)(planes * count), (int)count, special: false);
            var y = new float[planes];
            fixed (float* px = x)
            fixed (float* py = y)
            {
                ChannelMean.Planes(px, count, 0, planes, py);
                for (int p = 0; p < planes; p++)
                {
                    float expected = ChannelMean.One(px + p * count, count);
                    Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(y[p]), $"{count} values, plane {p}: {y[p]:R}, the specification's {expected:R}");
                }
            }
        }
        // The same values summed left to right give other bits for some plane (so the tests above tell orders apart).
        var v = Values(64 * 576, 5, special: false);
        int differing = 0;
        fixed (float* pv = v)
            for (int p = 0; p < 64; p++)
            {
                float sum = 0f;
                for (int i = 0; i < 576; i++) sum += pv[p * 576 + i];
                if (BitConverter.SingleToInt32Bits(sum / 576f) != BitConverter.SingleToInt32Bits(ChannelMean.One(pv + p * 576, 576))) differing++;
            }
        Assert.True(differing > 0, "left-to-right sums gave the specification's bits on every plane");
    }

    [Fact]
    public void An_input_of_the_wrong_rank_or_type_is_refused_in_one_line()
    {
        var g = new OnnxGraphBuilder("mean");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, 2, 3);
        g.Node(BinaryConvSchema.ChannelMean, ["X"], ["Y"], "mean", BinaryConvSchema.Domain);
        g.Output("Y", TensorProto.Types.DataType.Float, 2, 3);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        using var session = new InferenceSession(g.ToBytes(), options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => session.Run([NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(new float[6], [2, 3]))]));
        Assert.Contains("X must be float32 [N, C, D1, …] (rank 3 or more), got float32 [2, 3]", e.Message);
        Assert.DoesNotContain('\n', e.Message.Trim());
    }
}
