using BiVM.Contracts;
using BiVM.CustomOps.Activation;
using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using Xunit.Abstractions;

namespace BiVM.CustomOps.Tests.Activation;

/// <summary>
/// The 1×1 binary conv folded into the ShortcutRPReLU it feeds (<see cref="PointwiseFusion"/>, inputs PointwiseW …
/// PointwiseXPacked): the folded node against the BinaryConv2d node followed by the glue it came from, bit for bit
/// (output, packed bits, projection) except where a large output's folded normalization takes its statistics from the
/// dots' integer moments (within float rounding); the rows and moments of every kernel against the reference dots and
/// a float64 oracle; and the malformed nodes it refuses.
/// </summary>
public sealed unsafe class FoldedPointwiseConvTests(ITestOutputHelper log)
{
    [Theory]
    // Cin, Cout, H, W, folded InstanceNormalization, Addend, packed output for the next conv, projection, threads.
    // Outputs of 4 MiB per image and more are computed from the bits row by row (statistics from the dots' moments):
    [InlineData(35, 16, 128, 520, true, true, true, false, 2)]  // decode0's first SHB: rows not a multiple of the pixel block
    [InlineData(16, 16, 128, 512, true, true, false, true, 1)]  // decode0's second, with the head's projection
    [InlineData(59, 32, 64, 513, false, true, true, false, 2)]  // decode1's, batch-normalized (no statistics): the same bits
    [InlineData(64, 8, 256, 520, true, false, true, true, 2)]   // a full word, everything at once
    // Smaller ones into a plane first, as the conv node did: the same bits, statistics included.
    [InlineData(35, 16, 5, 37, true, true, true, false, 2)]
    [InlineData(7, 6, 2, 5, false, false, false, true, 1)]      // a row shorter than a block, Cout not a multiple of 4
    [InlineData(64, 8, 6, 16, true, false, true, true, 2)]
    public void Folded_glue_equals_the_conv_then_the_glue(int cin, int cout, int h, int w, bool norm, bool addend, bool packedOut, bool projection, int threads)
    {
        bool fromBits = (long)cout * h * w * sizeof(float) >= ShortcutRPReLUOrtKernel.FoldedPlaneBytes;
        const int n = 2, k = 3;
        var r = new Random(cin * 1000 + cout * 10 + w);
        var x = RandomValues.Uniform(r, n * cin * h * w, 2f);
        var tau = RandomValues.Uniform(r, cin, 0.3f);
        var signs = Enumerable.Range(0, cout * cin).Select(_ => r.Next(2) == 0 ? 1f : -1f).ToArray();
        var packedW = WeightPacker.Pack(signs, cout, cin, 1, 1);
        var alpha = RandomValues.Uniform(r, cout, 0.5f);
        var bias = RandomValues.Uniform(r, cout, 0.2f);
        var a = RandomValues.Uniform(r, n * cout * h * w);
        var xPacked = ActivationPacker.Pack(x, tau, n, cin, h, w);
        float[] shiftIn = RandomValues.Uniform(r, cout), slope = RandomValues.Uniform(r, cout), shiftOut = RandomValues.Uniform(r, cout), tauNext = RandomValues.Uniform(r, cout, 0.5f);
        float[] normScale = RandomValues.Uniform(r, cout, 2f), normBias = RandomValues.Uniform(r, cout);
        var projectionW = RandomValues.Uniform(r, k * cout);

        var g = new OnnxGraphBuilder("folded");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, n, cin, h, w);
        g.Input("XP", TensorProto.Types.DataType.Uint64, n, h, w, 1);
        g.Input("A", TensorProto.Types.DataType.Float, n, cout, h, w);
        g.Initializer(Tensors.Float("b1", shiftIn, cout));
        g.Initializer(Tensors.Float("k", slope, cout, 1, 1));
        g.Initializer(Tensors.Float("b2", shiftOut, 1, cout, 1, 1));
        g.Initializer(Tensors.Float("tn", tauNext, cout));
        g.Initializer(Tensors.Float("ns", normScale, cout));
        g.Initializer(Tensors.Float("nb", normBias, cout));
        g.Initializer(Tensors.Float("PW", projectionW, k, cout, 1, 1));
        var conv = BinaryConvNodes.AddCustom(g, "conv", "X", "D", packedW, WeightPacker.PackedShape(cout, cin, 1, 1), alpha, tau, bias, BinaryConvAttributes.Square(1));
        conv.Proto.Input.Add(""); // no Mask
        conv.Proto.Input.Add("XP");
        string[] inputs = ["D", addend ? "A" : "", "", "b1", "k", "b2", packedOut ? "tn" : "", norm ? "ns" : "", norm ? "nb" : "", projection ? "PW" : ""];
        string[] outputs = ["Y", .. packedOut ? ["Y.packed"] : Array.Empty<string>(), .. projection ? ["P"] : Array.Empty<string>()];
        var glue = g.Node(BinaryConvSchema.ShortcutRPReLU, inputs, outputs, "glue", BinaryConvSchema.Domain);
        if (projection && !packedOut) glue.Proto.Output.Insert(1, ""); // Projected is output 2: no YPacked
        g.Output("Y", TensorProto.Types.DataType.Float, n, cout, h, w);
        if (packedOut) g.Output("Y.packed", TensorProto.Types.DataType.Uint64, n, h, w, 1);
        if (projection) g.Output("P", TensorProto.Types.DataType.Float, n, k, h, w);
        var chain = ModelProto.Parser.ParseFrom(g.ToBytes());

        var folded = GlueFusion.Apply(chain).Model;
        Assert.Equal(1, PointwiseFusion.Count(folded));
        Assert.DoesNotContain(folded.Graph.Node, node => node.OpType == BinaryConvSchema.BinaryConv2d);
        var unfolded = PointwiseFusion.Unfolded(folded);
        Assert.Equal(0, PointwiseFusion.Count(unfolded));

        Dictionary<string, Array> Run(ModelProto model)
        {
            using var options = new SessionOptions { IntraOpNumThreads = threads };
            BiVMOps.Register(options);
            using var session = new InferenceSession(Google.Protobuf.MessageExtensions.ToByteArray(model), options);
            using var results = session.Run([
                NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, [n, cin, h, w])),
                NamedOnnxValue.CreateFromTensor("XP", new DenseTensor<ulong>(xPacked, [n, h, w, 1])),
                NamedOnnxValue.CreateFromTensor("A", new DenseTensor<float>(a, [n, cout, h, w]))]);
            return results.ToDictionary(v => v.Name, v => v.Name.EndsWith(".packed") ? (Array)v.AsTensor<ulong>().ToArray() : v.AsTensor<float>().ToArray());
        }

        var expected = Run(chain);
        var actual = Run(folded);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        Assert.Equal(Run(unfolded)["Y"], expected["Y"]); // the pass's inverse gives back the chain
        foreach (var name in expected.Keys.Where(name => !name.EndsWith(".packed")))
        {
            var e = (float[])expected[name];
            var f = (float[])actual[name];
            float largest = e.Zip(f).Max(p => Math.Abs(p.First - p.Second));
            log.WriteLine($"{name} ({(fromBits ? "from the bits" : "through a plane")}): largest difference {largest:E2} over {e.Length} values");
            if (norm && fromBits) Assert.All(e.Zip(f), p => Assert.True(Math.Abs(p.First - p.Second) <= 1e-5f * (1 + Math.Abs(p.First)), $"{name}: {p.Second} vs {p.First}"));
            else Assert.Equal(e, f);
        }
        if (packedOut && !(norm && fromBits)) Assert.Equal((ulong[])expected["Y.packed"], (ulong[])actual["Y.packed"]);
    }

    [Fact]
    public void Moments_and_rows_of_every_kernel_give_the_exact_outputs_and_their_float64_statistics()
    {
        var r = new Random(5);
        foreach (string kernel in KernelSelector.SupportedNames)
        foreach (int cin in new[] { 1, 16, 35, 64 })
        {
            const int cout = 5, width = 41, rows = 7;
            var tau = new float[cin];
            var signs = Enumerable.Range(0, cout * cin).Select(_ => r.Next(2) == 0 ? 1f : -1f).ToArray();
            var packedW = WeightPacker.Pack(signs, cout, cin, 1, 1);
            var alpha = RandomValues.Uniform(r, cout, 3f);
            var bias = RandomValues.Uniform(r, cout, 10f);
            var x = RandomValues.Uniform(r, cin * rows * width);
            var packed = ActivationPacker.Pack(x, tau, 1, cin, rows, width);
            using var conv = new FoldedPointwiseConv(packedW, alpha, tau, bias, kernel);
            Assert.Equal(kernel, conv.KernelName);
            var sums = new long[cout];
            var squares = new long[cout];
            var row = new float[cout * width];
            fixed (ulong* p = packed) fixed (long* s = sums, q = squares) fixed (float* y = row)
                for (int iy = 0; iy < rows; iy++)
                {
                    conv.MomentsRow(p + iy * width, width, s, q);
                    conv.Rows(p + iy * width, width, y, width);
                    // The rows are the conv's outputs: alpha·dot + bias from the reference dot, one multiply then one add.
                    for (int co = 0; co < cout; co++)
                        for (int ix = 0; ix < width; ix++)
                        {
                            int dot = 0;
                            for (int c = 0; c < cin; c++) dot += (x[(c * rows + iy) * width + ix] >= 0 ? 1 : -1) * (int)signs[co * cin + c];
                            Assert.Equal(dot * alpha[co] + bias[co], row[co * width + ix]);
                        }
                }
            for (int co = 0; co < cout; co++)
            {
                var exact = new List<double>();
                for (int i = 0; i < rows * width; i++)
                {
                    int dot = 0;
                    for (int c = 0; c < cin; c++) dot += (x[c * rows * width + i] >= 0 ? 1 : -1) * (int)signs[co * cin + c];
                    exact.Add((double)alpha[co] * dot + bias[co]);
                }
                double mean = exact.Average(), variance = exact.Sum(v => (v - mean) * (v - mean)) / exact.Count;
                var (m, v) = conv.Statistics(co, sums[co], squares[co], rows * width);
                Assert.True(Math.Abs(m - mean) <= 1e-12 * (1 + Math.Abs(mean)), $"{kernel} Cin {cin} channel {co}: mean {m} vs {mean}");
                Assert.True(Math.Abs(v - variance) <= 1e-12 * (1 + variance), $"{kernel} Cin {cin} channel {co}: variance {v} vs {variance}");
            }
        }
        var missing = KernelSelector.AllNames.Except(KernelSelector.SupportedNames).ToArray();
        log.WriteLine($"kernels tested: {string.Join(", ", KernelSelector.SupportedNames)}{(missing.Length > 0 ? $"; this CPU could not run {string.Join(", ", missing)}" : "")}");
    }

    [Fact]
    public void Count_moments_are_the_same_sums_at_every_step_this_CPU_runs()
    {
        var r = new Random(11);
        var lanes = new[] { 16, 8, 1 }.Where(l => l <= BinaryConvolution.MomentLanes).ToArray();
        foreach (int count in new[] { 0, 1, 7, 8, 15, 16, 17, 33, 100, 1536 })
        {
            var counts = Enumerable.Range(0, count).Select(_ => r.Next(65)).ToArray();
            (long, long) expected = (counts.Sum(c => (long)c), counts.Sum(c => (long)c * c));
            fixed (int* p = counts)
                foreach (int l in lanes)
                    Assert.Equal(expected, BinaryConvolution.CountMoments(p, count, l));
        }
        var missing = new[] { 16, 8 }.Except(lanes).ToArray();
        log.WriteLine($"steps tested: {string.Join(", ", lanes)}{(missing.Length > 0 ? $"; this CPU could not run {string.Join(", ", missing)}" : "")}");
    }

    [Theory]
    [InlineData(new[] { "X", "", "", "b", "b", "b", "", "", "", "", "", "W", "a", "t" }, "PointwiseW, PointwiseAlpha, PointwiseTau and PointwiseXPacked go together (a folded 1×1 binary conv; PointwiseBias is optional)")]
    [InlineData(new[] { "X", "", "", "b", "b", "b", "", "", "", "", "", "Wbad", "a", "t", "", "XP" }, "PointwiseW must be the packed uint64 [C = 2, 1, 1, 1] of a 1×1 conv with one word per pixel, got uint64 [2, 3, 3, 1]")]
    [InlineData(new[] { "X", "", "", "b", "b", "b", "", "", "", "", "", "W", "a", "t65", "", "XP" }, "PointwiseTau must be float32 [Cin] with 1 ≤ Cin ≤ 64 (one packed word per pixel), got float32 [65]")]
    [InlineData(new[] { "X", "", "", "b", "b", "b", "", "", "", "", "", "W", "t", "t", "", "XP" }, "PointwiseAlpha must be float32 [C = 2], got float32 [3]")]
    public void A_malformed_fold_is_refused_in_one_line(string[] inputs, string message)
    {
        var g = new OnnxGraphBuilder("bad");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, 1, 3, 4, 5);
        g.Input("XP", TensorProto.Types.DataType.Uint64, 1, 4, 5, 1);
        g.Initializer(Tensors.Float("b", [0f, 0f], 2));
        g.Initializer(Tensors.UInt64("W", [1UL, 2UL], 2, 1, 1, 1));
        g.Initializer(Tensors.UInt64("Wbad", new ulong[18], 2, 3, 3, 1));
        g.Initializer(Tensors.Float("a", [1f, 1f], 2));
        g.Initializer(Tensors.Float("t", [0f, 0f, 0f], 3));
        g.Initializer(Tensors.Float("t65", new float[65], 65));
        g.Node(BinaryConvSchema.ShortcutRPReLU, inputs, ["Y"], "glue", BinaryConvSchema.Domain);
        g.Output("Y", TensorProto.Types.DataType.Float, 1, 2, 4, 5);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => new InferenceSession(g.ToBytes(), options).Dispose());
        Assert.Contains($"ShortcutRPReLU node 'glue': {message}", e.Message);
    }

    [Fact]
    public void Packed_input_of_the_wrong_shape_is_refused_when_it_runs()
    {
        var g = new OnnxGraphBuilder("bad_packed");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, 1, 3, 4, 5);
        g.Input("XP", TensorProto.Types.DataType.Uint64, 1, 4, 6, 1);
        g.Initializer(Tensors.Float("b", [0f, 0f], 2));
        g.Initializer(Tensors.UInt64("W", [1UL, 2UL], 2, 1, 1, 1));
        g.Initializer(Tensors.Float("a", [1f, 1f], 2));
        g.Initializer(Tensors.Float("t", [0f, 0f, 0f], 3));
        g.Node(BinaryConvSchema.ShortcutRPReLU, ["X", "", "", "b", "b", "b", "", "", "", "", "", "W", "a", "t", "", "XP"], ["Y"], "glue", BinaryConvSchema.Domain);
        g.Output("Y", TensorProto.Types.DataType.Float, 1, 2, 4, 5);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        using var session = new InferenceSession(g.ToBytes(), options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => session.Run([
            NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(new float[60], [1, 3, 4, 5])),
            NamedOnnxValue.CreateFromTensor("XP", new DenseTensor<ulong>(new ulong[24], [1, 4, 6, 1]))]).Dispose());
        Assert.Contains("ShortcutRPReLU node 'glue': PointwiseXPacked must be uint64 [N, H, W, 1] = [1, 4, 5, 1] for X [1, 3, 4, 5], got uint64 [1, 4, 6, 1]", e.Message);
    }
}
