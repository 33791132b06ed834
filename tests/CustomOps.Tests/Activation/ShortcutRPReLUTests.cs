using BiVM.Contracts;
using BiVM.CustomOps.Activation;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

namespace BiVM.CustomOps.Tests.Activation;

/// <summary>
/// ShortcutRPReLU: the vector path against the one-value specification (every tail length), the specification
/// against a double-precision oracle of each rounding step, and the ONNX node against the standard-op chain it
/// replaces (Mul, Add, Add, PRelu, Add) in ONNX Runtime, value for value.
/// </summary>
public unsafe class ShortcutRPReLUTests
{
    private static float[] Values(Random r, int n)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = i % 7 == 3 ? 0f : i % 11 == 5 ? -0f : (float)(r.NextDouble() * 4 - 2);
        return v;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Vector_path_equals_the_specification_for_every_length(bool withAddend)
    {
        var r = new Random(7);
        for (int n = 0; n <= 41; n++)
        {
            var x = Values(r, n);
            var a = Values(r, n);
            var y = new float[n];
            float scale = 0.37f, b1 = -0.25f, k = 0.6f, b2 = 0.125f;
            fixed (float* px = x) fixed (float* pa = a) fixed (float* py = y)
                ShortcutRPReLU.Apply(px, withAddend ? pa : null, null, scale, b1, k, b2, py, n);
            for (int i = 0; i < n; i++)
                Assert.Equal(ShortcutRPReLU.One(x[i], a[i], withAddend, scale, b1, k, b2), y[i]);
        }
    }

    [Fact]
    public void Specification_rounds_each_step_once_in_the_unfused_order()
    {
        var r = new Random(11);
        foreach (var (x, a) in Values(r, 500).Zip(Values(r, 500)))
        {
            float s = -0.7f, b1 = 0.3f, k = -0.2f, b2 = -1.5f;
            float m = (float)((double)a * s);
            float t = (float)((double)x + m);
            float u = (float)((double)t + b1);
            float p = u >= 0 ? u : (float)((double)u * k);
            Assert.Equal((float)((double)p + b2), ShortcutRPReLU.One(x, a, true, s, b1, k, b2));
        }
        Assert.Equal(0.5f, ShortcutRPReLU.One(-1f, 0f, false, 1f, 0f, 0.5f, 1f)); // negative side: u·k, then + b₂
        // u = +0 is on PRelu's identity side (x >= 0): a negative slope must not turn it into −0 (b₂ = −0 keeps the sign visible).
        Assert.Equal(0, BitConverter.SingleToInt32Bits(ShortcutRPReLU.One(0f, 0f, false, 1f, 0f, -0.5f, -0f)));
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, false)]
    public void Onnx_node_equals_the_standard_op_chain(bool withAddend, bool withScale)
    {
        const int n = 2, c = 5, h = 7, w = 9;
        var r = new Random(3);
        var x = Values(r, n * c * h * w);
        var addend = Values(r, n * c * h * w);
        float[] shiftIn = Values(r, c), slope = Values(r, c), shiftOut = Values(r, c);
        var inputs = new List<NamedOnnxValue> { NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, [n, c, h, w])) };
        if (withAddend) inputs.Add(NamedOnnxValue.CreateFromTensor("A", new DenseTensor<float>(addend, [n, c, h, w])));

        OnnxGraphBuilder Graph(string name)
        {
            var g = new OnnxGraphBuilder(name);
            g.Input("X", TensorProto.Types.DataType.Float, "N", c, "H", "W");
            if (withAddend) g.Input("A", TensorProto.Types.DataType.Float, "N", c, "H", "W");
            g.Initializer(Tensors.Float("gamma", [0.4375f], 1));
            g.Initializer(Tensors.Float("b1", shiftIn, 1, c, 1, 1));
            g.Initializer(Tensors.Float("k", slope, c, 1, 1));
            g.Initializer(Tensors.Float("b2", shiftOut, 1, c, 1, 1));
            return g;
        }

        var fused = Graph("fused");
        fused.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        fused.Node(BinaryConvSchema.ShortcutRPReLU, ["X", withAddend ? "A" : "", withScale ? "gamma" : "", "b1", "k", "b2"], ["Y"], "fused", BinaryConvSchema.Domain);
        fused.Output("Y", TensorProto.Types.DataType.Float, "N", c, "H", "W");

        var chain = Graph("chain");
        string t = "X";
        if (withAddend)
        {
            string m = "A";
            if (withScale) chain.Node("Mul", ["A", "gamma"], [m = "m"], "mul");
            chain.Node("Add", ["X", m], [t = "t"], "shortcut");
        }
        chain.Node("Add", [t, "b1"], ["u"], "shift_in");
        chain.Node("PRelu", ["u", "k"], ["p"], "prelu");
        chain.Node("Add", ["p", "b2"], ["Y"], "shift_out");
        chain.Output("Y", TensorProto.Types.DataType.Float, "N", c, "H", "W");

        float[] Run(byte[] model)
        {
            using var options = new SessionOptions { IntraOpNumThreads = 2, GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
            BiVMOps.Register(options);
            using var session = new InferenceSession(model, options);
            using var results = session.Run(inputs);
            Assert.Equal([n, c, h, w], results.First().AsTensor<float>().Dimensions.ToArray());
            return results.First().AsTensor<float>().ToArray();
        }

        var expected = Run(chain.ToBytes());
        var actual = Run(fused.ToBytes());
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) Assert.True(expected[i] == actual[i], $"Y[{i}]: chain {expected[i]:R}, fused {actual[i]:R}");
    }

    [Fact]
    public void Addend_of_another_shape_is_reported_in_one_line()
    {
        var g = new OnnxGraphBuilder("bad");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, 1, 2, 3, 4);
        g.Input("A", TensorProto.Types.DataType.Float, 1, 2, 3, 1);
        g.Initializer(Tensors.Float("b", [0f, 0f], 2));
        g.Node(BinaryConvSchema.ShortcutRPReLU, ["X", "A", "", "b", "b", "b"], ["Y"], "glue", BinaryConvSchema.Domain);
        g.Output("Y", TensorProto.Types.DataType.Float, 1, 2, 3, 4);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        using var session = new InferenceSession(g.ToBytes(), options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => session.Run([
            NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(new float[24], [1, 2, 3, 4])),
            NamedOnnxValue.CreateFromTensor("A", new DenseTensor<float>(new float[6], [1, 2, 3, 1]))]));
        Assert.Contains("ShortcutRPReLU node 'glue': Addend must be float32 [1, 2, 3, 4] (X [1, 2, 3, 4]), got float32 [1, 2, 3, 1]", e.Message);
    }
}
