using BiVM.Contracts;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.CustomOps.Pooling;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

namespace BiVM.CustomOps.Tests.Pooling;

/// <summary>
/// AveragePool2x against ONNX Runtime's own AveragePool in NCHW (2×2, stride 2, count_include_pad 0) on the same values,
/// bit for bit: even and odd sizes with and without ceil_mode (windows cut by the last row, the last column, both), rows wider
/// than MLAS's vector kernel takes (its other summation order), values that tell the orders apart (a large and a small
/// term, ±0, NaN, infinities, subnormals), one and two threads; and the refusals, one line each.
/// </summary>
public unsafe class AveragePool2xTests
{
    private static float[] Values(int n, int seed)
    {
        var r = new Random(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++)
            v[i] = (i % 29) switch
            {
                3 => -0f,
                7 => 0f,
                11 => float.NaN,
                13 => i % 2 == 0 ? float.PositiveInfinity : float.NegativeInfinity,
                17 => 1e-42f * (r.Next(2) * 2 - 1),
                19 => 1e7f,
                _ => (float)(r.NextDouble() * 2 - 1) * MathF.Pow(2, r.Next(-6, 6)),
            };
        return v;
    }

    private static float[] Run(bool fused, float[] x, int channels, int h, int w, bool ceil, int threads, bool rowOrder = false) =>
        fused ? RunGraph(true, x, channels, h, w, ceil, threads, GraphOptimizationLevel.ORT_ENABLE_EXTENDED, rowOrder)
            : RunOrt(x, channels, h, w, ceil, threads, GraphOptimizationLevel.ORT_ENABLE_EXTENDED);

    private static float[] RunOrt(float[] x, int channels, int h, int w, bool ceil, int threads, GraphOptimizationLevel level) =>
        RunGraph(false, x, channels, h, w, ceil, threads, level, false);

    private static float[] RunGraph(bool fused, float[] x, int channels, int h, int w, bool ceil, int threads, GraphOptimizationLevel level, bool rowOrder)
    {
        var g = new OnnxGraphBuilder("pool");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, 1, channels, h, w);
        int oh = ceil ? (h + 1) / 2 : h / 2, ow = ceil ? (w + 1) / 2 : w / 2;
        if (fused)
            g.Node(BinaryConvSchema.AveragePool2x, ["X"], ["Y"], "pool", BinaryConvSchema.Domain).Attribute(BinaryConvSchema.PoolCeilMode, ceil ? 1L : 0L)
                .Attribute(BinaryConvSchema.PoolRowOrder, rowOrder ? 1L : 0L);
        else
            g.Node("AveragePool", ["X"], ["Y"], "pool").Attribute("kernel_shape", 2L, 2L).Attribute("strides", 2L, 2L)
                .Attribute("ceil_mode", ceil ? 1L : 0L).Attribute("count_include_pad", 0L);
        g.Output("Y", TensorProto.Types.DataType.Float, 1, channels, oh, ow);
        // The oracle in NCHW, MLAS's kernels (the op's specification) at the EXTENDED level: at the highest level ONNX
        // Runtime pools channel counts in multiples of its block in its NCHWc layout instead, whose sums come row by row.
        using var options = new SessionOptions { IntraOpNumThreads = threads, GraphOptimizationLevel = level };
        BiVMOps.Register(options);
        using var session = new InferenceSession(g.ToBytes(), options);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, [1, channels, h, w]))]);
        return results[0].AsTensor<float>().ToArray();
    }

    [Theory]
    [InlineData(3, 288, 512, true, 1)]
    [InlineData(3, 135, 241, true, 1)]   // both sides odd: cut rows, cut columns, a cut corner
    [InlineData(16, 9, 33, true, 2)]
    [InlineData(5, 9, 33, false, 2)]     // floor mode drops the odd row and column
    [InlineData(2, 5, 2048, true, 1)]    // wider than MLAS's vector kernel: its generic kernel's order
    [InlineData(2, 4, 2045, true, 1)]    // the widest row of the vector kernel, odd
    [InlineData(1, 1, 1, true, 1)]       // one value: its own average
    public void The_op_gives_onnx_runtimes_average_pool_bit_for_bit(int channels, int h, int w, bool ceil, int threads)
    {
        var x = Values(channels * h * w, h * 7 + w);
        var expected = Run(fused: false, x, channels, h, w, ceil, threads);
        var actual = Run(fused: true, x, channels, h, w, ceil, threads);
        OrtBits.AssertSame(expected, actual, $"{channels}×{h}×{w}, ceil {ceil}");
    }

    [Theory]
    [InlineData(16, 72, 128, true, 1)]   // the backbone's pools: ONNX Runtime's NCHWc layout and order at its highest level
    [InlineData(32, 37, 65, true, 2)]    // cut rows, cut columns, a cut corner
    [InlineData(64, 18, 32, false, 1)]
    [InlineData(16, 9, 20, true, 1)]     // a row too short for a vector step
    public void Row_order_gives_onnx_runtimes_nchwc_pool_bit_for_bit(int channels, int h, int w, bool ceil, int threads)
    {
        var x = Values(channels * h * w, h * 5 + w);
        var expected = RunOrt(x, channels, h, w, ceil, threads, GraphOptimizationLevel.ORT_ENABLE_ALL);
        var actual = Run(fused: true, x, channels, h, w, ceil, threads, rowOrder: true);
        OrtBits.AssertSame(expected, actual, $"{channels}×{h}×{w}, ceil {ceil}, row order");
        // The columns-first order differs on these values (so the test tells the two apart).
        var columnsFirst = Run(fused: true, x, channels, h, w, ceil, threads);
        Assert.Contains(Enumerable.Range(0, expected.Length), i => BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(columnsFirst[i]) && !float.IsNaN(expected[i]));
    }

    [Fact]
    public void The_row_orders_vector_steps_give_its_specifications_bits()
    {
        foreach (var (h, w) in new[] { (4, 64), (5, 33), (3, 31), (2, 200), (1, 40) })
        {
            var x = Values(h * w, h + w);
            int oh = (h + 1) / 2, ow = (w + 1) / 2;
            fixed (float* p = x)
                for (int i = 0; i < oh; i++)
                {
                    var row = new float[ow];
                    fixed (float* y = row) AveragePool2x.Row(p, h, w, ow, i, y, rowOrder: true);
                    for (int j = 0; j < ow; j++)
                    {
                        float expected = AveragePool2x.One(p, h, w, i, j, rowOrder: true);
                        Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(row[j]) || float.IsNaN(expected) && float.IsNaN(row[j]),
                            $"{h}×{w}: output ({i}, {j}) is {row[j]:R}, the specification's {expected:R}");
                    }
                }
        }
    }

    [Theory]
    [InlineData(6)]
    [InlineData(2048)]
    public void Negative_zeros_keep_or_lose_their_sign_as_in_onnx_runtime(int w)
    {
        // All −0: MLAS's vector kernel sums them to −0 (and a cut column adds its +0 padding); its generic kernel starts
        // from +0. Odd height and width: full, cut and corner windows.
        int h = 3, width = w + 1;
        var x = Enumerable.Repeat(-0f, h * width).ToArray();
        var expected = Run(fused: false, x, 1, h, width, ceil: true, threads: 1);
        var actual = Run(fused: true, x, 1, h, width, ceil: true, threads: 1);
        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), actual.Select(BitConverter.SingleToInt32Bits));
        Assert.Contains(expected, v => BitConverter.SingleToInt32Bits(v) != 0 || width > AveragePool2x.VectorKernelMaxWidth);
    }

    [Fact]
    public void The_two_kernels_orders_differ_where_the_specification_says()
    {
        // Columns first ((a + c) + (b + d)) against MLAS's generic kernel's (((0 + a) + b) + c) + d: 1e8 absorbs what
        // the order adds to it in one and not the other.
        float[] plane = [1e8f, 1f, -1e8f, 1f];
        fixed (float* narrow = plane)
        {
            Assert.Equal((1e8f + -1e8f + (1f + 1f)) / 4f, AveragePool2x.One(narrow, 2, 2, 0, 0));
            Assert.Equal(0.5f, AveragePool2x.One(narrow, 2, 2, 0, 0));
        }
        int wide = AveragePool2x.VectorKernelMaxWidth + 1;
        var widePlane = new float[2 * wide];
        (widePlane[0], widePlane[1], widePlane[wide], widePlane[wide + 1]) = (1e8f, 1f, -1e8f, 1f);
        fixed (float* p = widePlane)
            Assert.Equal(((0f + 1e8f + 1f) + -1e8f + 1f) / 4f, AveragePool2x.One(p, 2, wide, 0, 0));
    }

    [Theory]
    [InlineData(2L, "attribute ceil_mode must be 0 or 1, got 2")]
    [InlineData(0L, "X [1, 1, 1, 5] is too small for a 2×2 window (without ceil_mode each side needs 2 values)")]
    public void Bad_attributes_and_inputs_are_refused_in_one_line(long ceil, string message)
    {
        var g = new OnnxGraphBuilder("bad");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, 1, 1, -1, -1);
        g.Node(BinaryConvSchema.AveragePool2x, ["X"], ["Y"], "pool", BinaryConvSchema.Domain).Attribute(BinaryConvSchema.PoolCeilMode, ceil);
        g.Output("Y", TensorProto.Types.DataType.Float, 1, 1, -1, -1);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() =>
        {
            using var session = new InferenceSession(g.ToBytes(), options);
            using var results = session.Run([NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(new float[5], [1, 1, 1, 5]))]);
        });
        Assert.Contains($"AveragePool2x node 'pool': {message}", e.Message);
        Assert.DoesNotContain("\n", e.Message.Trim());
    }
}
