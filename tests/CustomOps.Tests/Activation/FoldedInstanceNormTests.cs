using System.Runtime.Intrinsics;
using BiVM.Contracts;
using BiVM.CustomOps.Activation;
using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using Xunit.Abstractions;

namespace BiVM.CustomOps.Tests.Activation;

/// <summary>
/// ShortcutRPReLU with a folded InstanceNormalization (NormScale, NormBias, epsilon): the vectorized statistics
/// against their one-value specification (bit for bit, every tail length, constant planes), the specification against
/// exact (decimal) arithmetic on a plane far from zero, and the ONNX node against ONNX Runtime's InstanceNormalization
/// followed by the standard glue ops: within 1e-5, identical on constant channels, its packed sign bits its own
/// output's, and the same at 1 and 2 threads.
/// </summary>
public unsafe class FoldedInstanceNormTests(ITestOutputHelper log)
{
    /// <summary>Values around <paramref name="offset"/>: a random spread, or one repeated value.</summary>
    private static float[] Plane(Random r, int n, float offset, float spread, bool constant = false)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = constant ? offset : offset + (float)((r.NextDouble() * 2 - 1) * spread);
        return v;
    }

    [Theory]
    [InlineData(64)]
    [InlineData(1088)] // a second block, and a tail
    public void The_lanes_are_folded_in_the_specifications_order(int n)
    {
        // Lanes 1, 17 and 33 hold 1e17, 1 and −1e17: the specification folds (s₁ + s₁₇) + (s₃₃ + s₄₉), where the 1 is lost
        // to rounding (μ = 0); (s₁ + s₃₃) + (s₁₇ + s₄₉) would keep it. Any other order of the fold fails here.
        var x = new float[n];
        x[1] = 1e17f;
        x[17] = 1f;
        x[33] = -1e17f;
        fixed (float* p = x)
        {
            var expected = FrameNormalization.ReferenceStatistics(p, n);
            Assert.Equal(0.0, expected.Mean);
            if (Vector256.IsHardwareAccelerated) Assert.Equal(expected, FrameNormalization.Statistics256(p, n));
            if (Vector512.IsHardwareAccelerated) Assert.Equal(expected, FrameNormalization.Statistics512(p, n));
        }
    }

    [Theory]
    [InlineData(1, 9, 5, 1)]  // tⱼ = uⱼ + uⱼ₊₈: u₁ and u₉ cancel, u₅'s 1 survives; pairing uⱼ with uⱼ₊₄ would lose it
    [InlineData(2, 6, 3, 1)]  // pⱼ = tⱼ + tⱼ₊₄: t₂ and t₆ cancel, t₃'s 1 survives; (t₂ + t₃) + … would lose it
    [InlineData(4, 2, 1, 0)]  // (p₀ + p₁) + (p₂ + p₃): p₁'s 1 is lost to p₀'s 1e17 before p₂ cancels it; (p₀ + p₂) + … would keep it
    public void The_later_stages_of_the_fold_are_the_specifications_too(int big, int minusBig, int one, int sum)
    {
        // Lane k of the first block holds x[k]; each of these lanes is the only one of its uⱼ (j = k mod 16, k < 16).
        var x = new float[64];
        x[big] = 1e17f;
        x[minusBig] = -1e17f;
        x[one] = 1f;
        fixed (float* p = x)
        {
            var expected = FrameNormalization.ReferenceStatistics(p, x.Length);
            Assert.Equal((double)sum / x.Length, expected.Mean);
            if (Vector256.IsHardwareAccelerated) Assert.Equal(expected, FrameNormalization.Statistics256(p, x.Length));
            if (Vector512.IsHardwareAccelerated) Assert.Equal(expected, FrameNormalization.Statistics512(p, x.Length));
        }
    }

    [Fact]
    public void Vector_statistics_equal_the_specification_for_every_length()
    {
        var r = new Random(5);
        foreach (int n in Enumerable.Range(1, 41).Concat([63, 64, 65, 129, 255, 1000, 1024, 1087, 2117, 9217]))
            foreach (var (offset, spread, constant) in new[] { (0f, 2f, false), (300f, 0.01f, false), (0.75f, 0f, true), (-3f, 0f, true) })
            {
                var x = Plane(r, n, offset, spread, constant);
                fixed (float* p = x)
                {
                    var expected = FrameNormalization.ReferenceStatistics(p, n);
                    Assert.Equal(expected, FrameNormalization.Statistics(p, n));
                    // Both vector widths, where this CPU runs them (the test then holds the spec on every host kind).
                    if (Vector256.IsHardwareAccelerated) Assert.Equal(expected, FrameNormalization.Statistics256(p, n));
                    if (Vector512.IsHardwareAccelerated) Assert.Equal(expected, FrameNormalization.Statistics512(p, n));
                    Assert.Equal(FrameNormalization.Affine(expected.Mean, expected.Variance, 1.5f, -0.25f, 1e-5f), FrameNormalization.Coefficients(p, n, 1.5f, -0.25f, 1e-5f));
                    if (constant) Assert.Equal((offset, 0.0), expected); // exact: no rounding anywhere
                }
            }
    }

    [Fact]
    public void Specification_statistics_match_exact_arithmetic_far_from_zero()
    {
        // μ = 1000, σ ≈ 6e-4: E[x²] − μ² in float64 would lose about half the digits of σ²; the shift by x₀ keeps them.
        var r = new Random(9);
        var x = Plane(r, 9216, 1000f, 1e-3f);
        // Every value is k·2⁻¹⁴ with an integer k (floats in [512, 1024)), so Σk and Σk² are exact in decimal.
        Assert.All(x, v => Assert.InRange(v, 512f, 1023.99f));
        decimal n = x.Length, unit = 16384, sum = 0, squares = 0;
        foreach (var v in x)
        {
            decimal k = (long)(v * 16384.0);
            sum += k;
            squares += k * k;
        }
        decimal mean = sum / n / unit;
        decimal variance = (n * squares - sum * sum) / (n * n) / (unit * unit);
        fixed (float* p = x)
        {
            var (m, s2) = FrameNormalization.ReferenceStatistics(p, x.Length);
            Assert.True(Math.Abs(m - (double)mean) <= 1e-12 * 1000, $"mean {m:R} vs exact {mean}");
            Assert.True(Math.Abs(s2 - (double)variance) <= 1e-9 * (double)variance, $"variance {s2:R} vs exact {variance}");
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Normalized_vector_path_equals_the_specification_for_every_length(bool withAddend)
    {
        var r = new Random(13);
        for (int n = 0; n <= 41; n++)
        {
            var x = Plane(r, n, 0.5f, 3f);
            var a = Plane(r, n, 0f, 2f);
            var y = new float[n];
            float normScale = 0.8125f, normShift = -0.3f, scale = 0.37f, b1 = -0.25f, k = 0.6f, b2 = 0.125f;
            fixed (float* px = x) fixed (float* pa = a) fixed (float* py = y)
                ShortcutRPReLU.ApplyNormalized(px, normScale, normShift, withAddend ? pa : null, null, scale, b1, k, b2, py, n);
            for (int i = 0; i < n; i++)
                Assert.Equal(ShortcutRPReLU.One(ShortcutRPReLU.Normalize(x[i], normScale, normShift), a[i], withAddend, scale, b1, k, b2), y[i]);
        }
    }

    private const int N = 2, C = 70, H = 5, W = 11;
    private const float Epsilon = 1e-5f;

    /// <summary>Channel c of image n: constant for c % 9 == 4 (0.75, or 0 in image 1), else random around an offset.</summary>
    private static float[] Input(Random r)
    {
        var x = new float[N * C * H * W];
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
            {
                bool constant = c % 9 == 4;
                // Spread and offset alike, like a conv's output (a spread far below the offset's float32 ulp times
                // the plane size makes ORT's float32 mean, not ours, lose the digits: not a comparison to make).
                var plane = Plane(r, H * W, constant ? (n == 0 ? 0.75f : 0f) : (float)(r.NextDouble() * 8 - 4), 0.5f + (float)(r.NextDouble() * 2.5), constant);
                plane.CopyTo(x, (n * C + c) * H * W);
            }
        return x;
    }

    private static float[] Values(Random r, int n, float low, float high) =>
        Enumerable.Range(0, n).Select(_ => low + (float)r.NextDouble() * (high - low)).ToArray();

    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, false)]
    public void Onnx_node_agrees_with_instance_normalization_and_the_standard_op_chain(bool withAddend, bool withScale)
    {
        var r = new Random(withAddend ? withScale ? 1 : 2 : 3);
        var x = Input(r);
        var addend = Values(r, x.Length, -2, 2);
        float[] gamma = Values(r, C, -1.5f, 1.5f), beta = Values(r, C, -1, 1);
        float[] shiftIn = Values(r, C, -0.5f, 0.5f), slope = Values(r, C, -0.5f, 1), shiftOut = Values(r, C, -0.5f, 0.5f), tau = Values(r, C, -1, 1);
        var inputs = new List<NamedOnnxValue> { NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, [N, C, H, W])) };
        if (withAddend) inputs.Add(NamedOnnxValue.CreateFromTensor("A", new DenseTensor<float>(addend, [N, C, H, W])));

        OnnxGraphBuilder Graph(string name)
        {
            var g = new OnnxGraphBuilder(name);
            g.Input("X", TensorProto.Types.DataType.Float, "N", C, "H", "W");
            if (withAddend) g.Input("A", TensorProto.Types.DataType.Float, "N", C, "H", "W");
            g.Initializer(Tensors.Float("gamma", [0.4375f], 1));
            g.Initializer(Tensors.Float("norm_scale", gamma, C));
            g.Initializer(Tensors.Float("norm_bias", beta, C));
            g.Initializer(Tensors.Float("b1", shiftIn, 1, C, 1, 1));
            g.Initializer(Tensors.Float("k", slope, C, 1, 1));
            g.Initializer(Tensors.Float("b2", shiftOut, 1, C, 1, 1));
            g.Initializer(Tensors.Float("tau_next", tau, C));
            return g;
        }

        var fused = Graph("fused");
        fused.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        fused.Node(BinaryConvSchema.ShortcutRPReLU, ["X", withAddend ? "A" : "", withScale ? "gamma" : "", "b1", "k", "b2", "tau_next", "norm_scale", "norm_bias"],
            ["Y", "Y.packed"], "fused", BinaryConvSchema.Domain).Attribute(BinaryConvSchema.ActivationNormEpsilon, Epsilon);
        fused.Output("Y", TensorProto.Types.DataType.Float, "N", C, "H", "W");
        fused.Output("Y.packed", TensorProto.Types.DataType.Uint64, "N", "H", "W", PackedLayout.WordsFor(C));

        var chain = Graph("chain");
        chain.Node("InstanceNormalization", ["X", "norm_scale", "norm_bias"], ["xn"], "norm").Attribute("epsilon", Epsilon);
        string t = "xn";
        if (withAddend)
        {
            string m = "A";
            if (withScale) chain.Node("Mul", ["A", "gamma"], [m = "m"], "mul");
            chain.Node("Add", ["xn", m], [t = "t"], "shortcut");
        }
        chain.Node("Add", [t, "b1"], ["u"], "shift_in");
        chain.Node("PRelu", ["u", "k"], ["p"], "prelu");
        chain.Node("Add", ["p", "b2"], ["Y"], "shift_out");
        chain.Output("Y", TensorProto.Types.DataType.Float, "N", C, "H", "W");

        (float[] Y, ulong[]? Packed) Run(byte[] model, int threads)
        {
            using var options = new SessionOptions { IntraOpNumThreads = threads, GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
            BiVMOps.Register(options);
            using var session = new InferenceSession(model, options);
            using var results = session.Run(inputs);
            var y = results.First(v => v.Name == "Y").AsTensor<float>();
            Assert.Equal([N, C, H, W], y.Dimensions.ToArray());
            return (y.ToArray(), results.FirstOrDefault(v => v.Name == "Y.packed")?.AsTensor<ulong>().ToArray());
        }

        var (expected, _) = Run(chain.ToBytes(), 1);
        var (actual, packed) = Run(fused.ToBytes(), 1);
        var (twoThreads, packedTwoThreads) = Run(fused.ToBytes(), 2);
        Assert.Equal(actual, twoThreads);
        Assert.Equal(packed, packedTwoThreads);
        Assert.Equal(expected.Length, actual.Length);
        double largest = 0;
        int plane = H * W, exactChannels = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            largest = Math.Max(largest, Math.Abs(expected[i] - actual[i]));
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5, $"Y[{i}]: chain {expected[i]:R}, fused {actual[i]:R}");
            // Constant channels: ORT's float32 mean is exact and its variance 0, like ours, so every step is the same.
            if (i / plane % C % 9 == 4) { Assert.True(expected[i] == actual[i], $"constant channel, Y[{i}]: chain {expected[i]:R}, fused {actual[i]:R}"); exactChannels++; }
        }
        Assert.True(exactChannels > 0);
        // The hand-off is the op's own output's sign bits; against the chain's output they differ only at ties.
        Assert.Equal(ActivationPacker.Pack(actual, tau, N, C, H, W), packed);
        var chainBits = ActivationPacker.Pack(expected, tau, N, C, H, W);
        int ties = 0;
        for (int i = 0; i < expected.Length; i++)
            if (Math.Abs(expected[i] - tau[i / plane % C]) <= 1e-5) ties++;
        if (ties == 0) Assert.Equal(chainBits, packed);
        log.WriteLine($"max |fused - chain| = {largest:E2} over {expected.Length} values; {ties} within 1e-5 of tau");
    }

    [Theory]
    [InlineData("norm_scale", "", "NormScale and NormBias go together")]
    [InlineData("short", "norm_bias", "NormScale and NormBias have 3 and 4 values, expected C = 4")]
    public void Bad_normalization_inputs_are_reported_in_one_line(string scale, string bias, string message)
    {
        var g = new OnnxGraphBuilder("bad");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, 1, 4, 2, 2);
        g.Initializer(Tensors.Float("b", [0f, 0f, 0f, 0f], 4));
        g.Initializer(Tensors.Float("norm_scale", [1f, 1f, 1f, 1f], 4));
        g.Initializer(Tensors.Float("norm_bias", [0f, 0f, 0f, 0f], 4));
        g.Initializer(Tensors.Float("short", [1f, 1f, 1f], 3));
        g.Node(BinaryConvSchema.ShortcutRPReLU, ["X", "", "", "b", "b", "b", "", scale, bias], ["Y"], "glue", BinaryConvSchema.Domain);
        g.Output("Y", TensorProto.Types.DataType.Float, 1, 4, 2, 2);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => new InferenceSession(g.ToBytes(), options).Dispose());
        Assert.Contains($"ShortcutRPReLU node 'glue': {message}", e.Message);
    }
}
