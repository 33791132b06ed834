using BiVM.Contracts;
using BiVM.CustomOps.Activation;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

namespace BiVM.CustomOps.Tests.Activation;

/// <summary>
/// The backbone's shortcut glue: <see cref="ShortcutSum"/> (vector path against its one-step specification, the node
/// against the Mul, Tile and Add chain it replaces in ONNX Runtime) and ShortcutRPReLU's addend channel maps
/// (addend_repeat against Tile, addend_chunks against the Reshape, ReduceSum, Reshape pair sum), value for value.
/// </summary>
public unsafe class ShortcutSumTests
{
    private const int N = 2, C = 8, H = 5, W = 7;

    private static float[] Values(Random r, int n)
    {
        var v = new float[n];
        // Zeros of both signs and exact cancellations too: the sums must keep the graph's signed zeros.
        for (int i = 0; i < n; i++) v[i] = i % 11 == 3 ? 0f : i % 13 == 5 ? -0f : (float)(r.NextDouble() * 4 - 2);
        return v;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Vector_path_equals_the_specification_for_every_length(int termCount)
    {
        var r = new Random(5 + termCount);
        float[] scales = [0.37f, -1.25f, 1f];
        float** planes = stackalloc float*[3];
        for (int n = 0; n <= 41; n++)
        {
            var x = Values(r, n);
            var z = Enumerable.Range(0, termCount).Select(_ => Values(r, n)).ToArray();
            var y = new float[n];
            fixed (float* px = x) fixed (float* py = y) fixed (float* ps = scales)
            fixed (float* z0 = z[0]) fixed (float* z1 = z.Length > 1 ? z[1] : null) fixed (float* z2 = z.Length > 2 ? z[2] : null)
            {
                planes[0] = z0;
                planes[1] = z1;
                planes[2] = z2;
                ShortcutSum.Apply(px, planes, ps, termCount, py, n);
            }
            for (int i = 0; i < n; i++)
            {
                float expected = x[i];
                for (int t = 0; t < termCount; t++) expected = ShortcutSum.Step(expected, z[t][i], scales[t]);
                Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(y[i]), $"n = {n}, i = {i}: {expected:R} vs {y[i]:R}");
            }
        }
    }

    [Fact]
    public void Specification_rounds_the_product_then_the_sum()
    {
        var r = new Random(2);
        foreach (var (x, z) in Values(r, 300).Zip(Values(r, 300)))
            Assert.Equal((float)((double)x + (float)((double)z * 0.3f)), ShortcutSum.Step(x, z, 0.3f));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Onnx_node_equals_the_Mul_Tile_Add_chain(int threads)
    {
        // Y = ((X + 0.4375·Tile(Z₁, 4)) + Z₂·(−0.8)) + Tile(Z₃, 2): a scaled tiled term, a scaled one, a plain tiled one.
        var r = new Random(9);
        var x = Values(r, N * C * H * W);
        var z1 = Values(r, N * (C / 4) * H * W);
        var z2 = Values(r, N * C * H * W);
        var z3 = Values(r, N * (C / 2) * H * W);
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, [N, C, H, W])),
            NamedOnnxValue.CreateFromTensor("Z1", new DenseTensor<float>(z1, [N, C / 4, H, W])),
            NamedOnnxValue.CreateFromTensor("Z2", new DenseTensor<float>(z2, [N, C, H, W])),
            NamedOnnxValue.CreateFromTensor("Z3", new DenseTensor<float>(z3, [N, C / 2, H, W])),
        };
        OnnxGraphBuilder Graph(string name)
        {
            var g = new OnnxGraphBuilder(name);
            g.Input("X", TensorProto.Types.DataType.Float, "N", C, "H", "W");
            g.Input("Z1", TensorProto.Types.DataType.Float, "N", C / 4, "H", "W");
            g.Input("Z2", TensorProto.Types.DataType.Float, "N", C, "H", "W");
            g.Input("Z3", TensorProto.Types.DataType.Float, "N", C / 2, "H", "W");
            return g;
        }
        var chain = Graph("chain");
        chain.Initializer(Tensors.Float("g1", [0.4375f], 1));
        chain.Initializer(Tensors.Float("g2", [-0.8f], 1));
        chain.Initializer(Tensors.Int64("r4", [1, 4, 1, 1], 4));
        chain.Initializer(Tensors.Int64("r2", [1, 2, 1, 1], 4));
        chain.Node("Mul", ["Z1", "g1"], ["m1"]);
        chain.Node("Tile", ["m1", "r4"], ["t1"]);
        chain.Node("Add", ["X", "t1"], ["s1"]);
        chain.Node("Mul", ["g2", "Z2"], ["m2"]);
        chain.Node("Add", ["m2", "s1"], ["s2"]);
        chain.Node("Tile", ["Z3", "r2"], ["t3"]);
        chain.Node("Add", ["s2", "t3"], ["Y"]);
        chain.Output("Y", TensorProto.Types.DataType.Float, "N", C, "H", "W");

        var fused = Graph("fused");
        fused.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        fused.Node(BinaryConvSchema.ShortcutSum, ["X", "Z1", "Z2", "Z3"], ["Y"], "sum", BinaryConvSchema.Domain)
            .Attribute(BinaryConvSchema.ShortcutSumScales, 0.4375f, -0.8f, 1f)
            .Attribute(BinaryConvSchema.ShortcutSumRepeats, 4L, 1L, 2L);
        fused.Output("Y", TensorProto.Types.DataType.Float, "N", C, "H", "W");
        AssertSame(Run(chain.ToBytes(), inputs, threads), Run(fused.ToBytes(), inputs, threads));
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(4, 1)]
    [InlineData(1, 2)]
    public void Mapped_addend_equals_the_Tile_or_the_ReduceSum_pair_sum(int repeat, int chunks)
    {
        var r = new Random(13 * repeat + chunks);
        int addendChannels = C / repeat * chunks;
        var x = Values(r, N * C * H * W);
        var a = Values(r, N * addendChannels * H * W);
        float[] shiftIn = Values(r, C), slope = Values(r, C), shiftOut = Values(r, C);
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, [N, C, H, W])),
            NamedOnnxValue.CreateFromTensor("A", new DenseTensor<float>(a, [N, addendChannels, H, W])),
        };
        OnnxGraphBuilder Graph(string name)
        {
            var g = new OnnxGraphBuilder(name);
            g.Input("X", TensorProto.Types.DataType.Float, N, C, H, W);
            g.Input("A", TensorProto.Types.DataType.Float, N, addendChannels, H, W);
            g.Initializer(Tensors.Float("gamma", [0.75f], 1));
            g.Initializer(Tensors.Float("b1", shiftIn, 1, C, 1, 1));
            g.Initializer(Tensors.Float("k", slope, C, 1, 1));
            g.Initializer(Tensors.Float("b2", shiftOut, 1, C, 1, 1));
            return g;
        }
        var chain = Graph("chain");
        string mapped = "mapped";
        if (repeat > 1)
        {
            chain.Initializer(Tensors.Int64("repeats", [1, repeat, 1, 1], 4));
            chain.Node("Tile", ["A", "repeats"], [mapped]);
        }
        else
        {
            // The exporter's map_l1 pair sum, with a constant target shape.
            chain.Initializer(Tensors.Int64("chunk_shape", [0, 2, C, -1], 4));
            chain.Initializer(Tensors.Int64("axis1", [1], 1));
            chain.Initializer(Tensors.Int64("shape", [N, C, H, W], 4));
            chain.Node("Reshape", ["A", "chunk_shape"], ["chunks"]);
            chain.Node("ReduceSum", ["chunks", "axis1"], ["sum"]).Attribute("keepdims", 0L);
            chain.Node("Reshape", ["sum", "shape"], [mapped]);
        }
        chain.Node("Mul", [mapped, "gamma"], ["m"]);
        chain.Node("Add", ["X", "m"], ["t"]);
        chain.Node("Add", ["t", "b1"], ["u"]);
        chain.Node("PRelu", ["u", "k"], ["p"]);
        chain.Node("Add", ["p", "b2"], ["Y"]);
        chain.Output("Y", TensorProto.Types.DataType.Float, N, C, H, W);

        var fused = Graph("fused");
        fused.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        var node = fused.Node(BinaryConvSchema.ShortcutRPReLU, ["X", "A", "gamma", "b1", "k", "b2"], ["Y"], "glue", BinaryConvSchema.Domain);
        if (repeat > 1) node.Attribute(BinaryConvSchema.ActivationAddendRepeat, (long)repeat);
        if (chunks > 1) node.Attribute(BinaryConvSchema.ActivationAddendChunks, (long)chunks);
        fused.Output("Y", TensorProto.Types.DataType.Float, N, C, H, W);
        AssertSame(Run(chain.ToBytes(), inputs, 2), Run(fused.ToBytes(), inputs, 2));
    }

    [Fact]
    public void Term_of_the_wrong_shape_is_reported_in_one_line()
    {
        var g = new OnnxGraphBuilder("bad");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, 1, 4, 3, 3);
        g.Input("Z", TensorProto.Types.DataType.Float, 1, 3, 3, 3);
        g.Node(BinaryConvSchema.ShortcutSum, ["X", "Z"], ["Y"], "sum", BinaryConvSchema.Domain)
            .Attribute(BinaryConvSchema.ShortcutSumScales, [1f]).Attribute(BinaryConvSchema.ShortcutSumRepeats, [2L]);
        g.Output("Y", TensorProto.Types.DataType.Float, 1, 4, 3, 3);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        using var session = new InferenceSession(g.ToBytes(), options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => session.Run([
            NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(new float[36], [1, 4, 3, 3])),
            NamedOnnxValue.CreateFromTensor("Z", new DenseTensor<float>(new float[27], [1, 3, 3, 3]))]));
        Assert.Contains("ShortcutSum node 'sum': term 1 must be float32 [1, 2, 3, 3] (X [1, 4, 3, 3], repeat 2), got float32 [1, 3, 3, 3]", e.Message);
    }

    [Fact]
    public void Addend_chunks_other_than_two_are_refused_when_the_session_is_created()
    {
        var g = new OnnxGraphBuilder("bad");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, 1, 2, 3, 3);
        g.Input("A", TensorProto.Types.DataType.Float, 1, 6, 3, 3);
        g.Initializer(Tensors.Float("b", [0f, 0f], 2));
        g.Node(BinaryConvSchema.ShortcutRPReLU, ["X", "A", "", "b", "b", "b"], ["Y"], "glue", BinaryConvSchema.Domain)
            .Attribute(BinaryConvSchema.ActivationAddendChunks, 3L);
        g.Output("Y", TensorProto.Types.DataType.Float, 1, 2, 3, 3);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => new InferenceSession(g.ToBytes(), options).Dispose());
        Assert.Contains("attribute addend_chunks = 3 must be 1 or 2", e.Message);
    }

    private static float[] Run(byte[] model, List<NamedOnnxValue> inputs, int threads)
    {
        using var options = new SessionOptions { IntraOpNumThreads = threads, GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        BiVMOps.Register(options);
        using var session = new InferenceSession(model, options);
        using var results = session.Run(inputs);
        return results.First().AsTensor<float>().ToArray();
    }

    private static void AssertSame(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]), $"Y[{i}]: chain {expected[i]:R}, fused {actual[i]:R}");
    }
}
