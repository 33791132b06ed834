using BiVM.Contracts;
using BiVM.CustomOps.Activation;
using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.CustomOps.SparseBinaryConv2d;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using Xunit.Abstractions;

namespace BiVM.CustomOps.Tests.Activation;

/// <summary>
/// SHB's masked 3×3 conv folded into the ShortcutRPReLU that adds it (<see cref="SparseFusion"/>, inputs SparseX …
/// SparseMask): the folded node against the SparseBinaryConv2d node followed by the glue it came from, bit for bit
/// (output, packed bits, projection), beside a folded 1×1 conv or alone; the rows of every kernel against the conv
/// node's output; and the malformed nodes it refuses.
/// </summary>
public sealed unsafe class FoldedSparseConvTests(ITestOutputHelper log)
{
    private static byte[] Mask(Random r, int count, double active) => Enumerable.Range(0, count).Select(_ => (byte)(r.NextDouble() < active ? 1 : 0)).ToArray();

    [Theory]
    // Cin, Cout, H, W, mask_scale, active fraction of the cells, dense 1×1 folded at X (with its normalization), packed
    // output for the next conv, projection, threads.
    [InlineData(35, 16, 128, 520, 16, 0.25, true, true, false, 2)] // decode0's first SHB (its 1×1 from the bits: 4 MiB and more)
    [InlineData(16, 16, 9, 37, 4, 0.5, true, false, true, 1)]     // decode0's second, small: the 1×1 through a plane, the head's projection
    [InlineData(59, 32, 20, 33, 8, 0.1, false, true, false, 2)]   // decode1's shape: W not a multiple of the cell, no 1×1 folded
    [InlineData(80, 8, 7, 9, 2, 1.0, false, false, false, 2)]     // two words per pixel, every cell active: the dense conv's bits
    [InlineData(40, 6, 6, 11, 4, 0.0, false, true, true, 1)]      // no cell active: the Addend is zero
    public void Folded_glue_equals_the_sparse_conv_then_the_glue(int cin, int cout, int h, int w, int scale, double active, bool pointwise, bool packedOut, bool projection, int threads)
    {
        const int n = 2, k = 3;
        var r = new Random(cin * 1000 + cout * 10 + w);
        var x = RandomValues.Uniform(r, n * cin * h * w, 2f);
        var tau = RandomValues.Uniform(r, cin, 0.3f);
        var packedW = WeightPacker.Pack(Enumerable.Range(0, cout * cin * 9).Select(_ => r.Next(2) == 0 ? 1f : -1f).ToArray(), cout, cin, 3, 3);
        var (mh, mw) = MaskGeometry.MaskSize(h, w, scale);
        var mask = Mask(r, n * mh * mw, active);
        int dense = pointwise ? Math.Min(cin, 64) : cout; // the 1×1 reads the first 64 channels at most: one word per pixel
        var d = RandomValues.Uniform(r, n * (pointwise ? dense : cout) * h * w, 2f);
        float[] shiftIn = RandomValues.Uniform(r, cout), slope = RandomValues.Uniform(r, cout), shiftOut = RandomValues.Uniform(r, cout), tauNext = RandomValues.Uniform(r, cout, 0.5f);
        float[] normScale = RandomValues.Uniform(r, cout, 2f), normBias = RandomValues.Uniform(r, cout);

        var g = new OnnxGraphBuilder("folded_sparse");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, n, cin, h, w);
        g.Input("M", TensorProto.Types.DataType.Uint8, n, 1, mh, mw);
        g.Input("D", TensorProto.Types.DataType.Float, n, pointwise ? dense : cout, h, w);
        g.Initializer(Tensors.Float("b1", shiftIn, cout));
        g.Initializer(Tensors.Float("k", slope, cout, 1, 1));
        g.Initializer(Tensors.Float("b2", shiftOut, 1, cout, 1, 1));
        g.Initializer(Tensors.Float("tn", tauNext, cout));
        g.Initializer(Tensors.Float("ns", normScale, cout));
        g.Initializer(Tensors.Float("nb", normBias, cout));
        g.Initializer(Tensors.Float("PW", RandomValues.Uniform(r, k * cout), k, cout, 1, 1));
        BinaryConvNodes.AddCustom(g, "sparse", "X", "S", packedW, WeightPacker.PackedShape(cout, cin, 3, 3), RandomValues.Uniform(r, cout, 0.5f), tau, RandomValues.Uniform(r, cout, 0.2f),
            BinaryConvAttributes.Square(3), mask: "M", maskScale: scale);
        string glueX = "D";
        if (pointwise)
        {
            // SHB's dense 1×1 on a packed input of its own (as the hand-off gives it), which the pass folds first.
            var pointTau = RandomValues.Uniform(r, dense, 0.3f);
            g.Initializer(Tensors.UInt64("DP.bits", ActivationPacker.Pack(d, pointTau, n, dense, h, w), n, h, w, 1));
            var conv = BinaryConvNodes.AddCustom(g, "dense", "D", "E", WeightPacker.Pack(Enumerable.Range(0, cout * dense).Select(_ => r.Next(2) == 0 ? 1f : -1f).ToArray(), cout, dense, 1, 1),
                WeightPacker.PackedShape(cout, dense, 1, 1), RandomValues.Uniform(r, cout, 0.5f), pointTau, RandomValues.Uniform(r, cout, 0.2f), BinaryConvAttributes.Square(1));
            conv.Proto.Input.Add(""); // no Mask
            conv.Proto.Input.Add("DP.bits");
            glueX = "E";
        }
        string[] inputs = [glueX, "S", "", "b1", "k", "b2", packedOut ? "tn" : "", pointwise ? "ns" : "", pointwise ? "nb" : "", projection ? "PW" : ""];
        string[] outputs = ["Y", .. packedOut ? ["Y.packed"] : Array.Empty<string>(), .. projection ? ["P"] : Array.Empty<string>()];
        var glue = g.Node(BinaryConvSchema.ShortcutRPReLU, inputs, outputs, "glue", BinaryConvSchema.Domain);
        if (projection && !packedOut) glue.Proto.Output.Insert(1, ""); // Projected is output 2: no YPacked
        g.Output("Y", TensorProto.Types.DataType.Float, n, cout, h, w);
        if (packedOut) g.Output("Y.packed", TensorProto.Types.DataType.Uint64, n, h, w, 1);
        if (projection) g.Output("P", TensorProto.Types.DataType.Float, n, k, h, w);
        var chain = ModelProto.Parser.ParseFrom(g.ToBytes());

        var folded = GlueFusion.Apply(chain).Model;
        Assert.Equal(1, SparseFusion.Count(folded));
        Assert.Equal(pointwise ? 1 : 0, PointwiseFusion.Count(folded));
        Assert.DoesNotContain(folded.Graph.Node, node => node.OpType is BinaryConvSchema.SparseBinaryConv2d or BinaryConvSchema.BinaryConv2d);
        var unfolded = SparseFusion.Unfolded(folded);
        Assert.Equal(0, SparseFusion.Count(unfolded));
        Assert.Equal(1, SparseFusion.Count(GlueFusion.Apply(unfolded).Model)); // folded again

        Dictionary<string, Array> Run(ModelProto model)
        {
            using var options = new SessionOptions { IntraOpNumThreads = threads };
            BiVMOps.Register(options);
            using var session = new InferenceSession(Google.Protobuf.MessageExtensions.ToByteArray(model), options);
            using var results = session.Run([
                NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, [n, cin, h, w])),
                NamedOnnxValue.CreateFromTensor("M", new DenseTensor<byte>(mask, [n, 1, mh, mw])),
                NamedOnnxValue.CreateFromTensor("D", new DenseTensor<float>(d, [n, pointwise ? dense : cout, h, w]))]);
            return results.ToDictionary(v => v.Name, v => v.Name.EndsWith(".packed") ? (Array)v.AsTensor<ulong>().ToArray() : v.AsTensor<float>().ToArray());
        }

        // Against the file with only the sparse conv written back: a folded 1×1 is the same op in both.
        var expected = Run(unfolded);
        var actual = Run(folded);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var name in expected.Keys) Assert.Equal(expected[name], actual[name]);
        if (!pointwise) Assert.Equal(Run(chain)["Y"], actual["Y"]); // and the chain as written
        log.WriteLine($"Cin {cin} → Cout {cout} at {w}×{h}, mask_scale {scale}, {mask.Count(b => b != 0)} of {mask.Length} cells active: {string.Join(", ", expected.Keys)} identical");
    }

    /// <summary>A masked 3×3 layer's random τ, packed ±1 weights, α, bias, input [n, Cin, H, W] and mask (cells active with the given chance).</summary>
    private static (float[] Tau, ulong[] PackedW, float[] Alpha, float[] Bias, float[] X, byte[] Mask) RandomLayer(Random r, int n, int cin, int cout, int h, int w, int scale, double active)
    {
        var tau = RandomValues.Uniform(r, cin, 0.3f);
        var packedW = WeightPacker.Pack(Enumerable.Range(0, cout * cin * 9).Select(_ => r.Next(2) == 0 ? 1f : -1f).ToArray(), cout, cin, 3, 3);
        var alpha = RandomValues.Uniform(r, cout, 3f);
        var bias = RandomValues.Uniform(r, cout, 10f);
        var x = RandomValues.Uniform(r, n * cin * h * w);
        var (mh, mw) = MaskGeometry.MaskSize(h, w, scale);
        return (tau, packedW, alpha, bias, x, Mask(r, n * mh * mw, active));
    }

    [Fact]
    public void Rows_of_every_kernel_are_the_conv_nodes_output()
    {
        var r = new Random(3);
        foreach (string kernel in KernelSelector.SupportedNames)
        foreach (int cin in new[] { 16, 35, 64, 80 })
        {
            const int n = 2, cout = 5, h = 11, w = 43, scale = 4;
            var (tau, packedW, alpha, bias, x, mask) = RandomLayer(r, n, cin, cout, h, w, scale, 0.4);
            using var folded = new FoldedSparseConv(packedW, alpha, tau, bias, scale, kernel);
            Assert.Equal(kernel, folded.KernelName);
            using var conv = new BinaryConvolution(BinaryConv2dParams.Square(1, cin, 1, 1, cout, 3), packedW, alpha, tau, bias, kernel);
            var expected = Enumerable.Repeat(float.NaN, n * cout * h * w).ToArray();
            var rows = Enumerable.Repeat(float.NaN, cout * w).ToArray();
            fixed (float* px = x, py = expected, pr = rows) fixed (byte* pm = mask)
            {
                new SparseBinaryConvolution(conv, scale).Run(px, n, h, w, pm, py, ParallelRunners.Sequential);
                var layer = folded.Layer(n, h, w);
                using var packed = folded.Pack(layer, px, pm, ParallelRunners.Threads(2));
                for (int b = 0; b < n; b++)
                    for (int oy = 0; oy < h; oy++)
                    {
                        folded.Row(layer, packed.Pointer, pm, b, oy, pr, w);
                        for (int co = 0; co < cout; co++)
                            Assert.Equal(new ReadOnlySpan<float>(py + ((b * cout + co) * h + oy) * w, w).ToArray(), rows.AsSpan(co * w, w).ToArray());
                    }
            }
        }
        var missing = KernelSelector.AllNames.Except(KernelSelector.SupportedNames).ToArray();
        log.WriteLine($"kernels tested: {string.Join(", ", KernelSelector.SupportedNames)}{(missing.Length > 0 ? $"; this CPU could not run {string.Join(", ", missing)}" : "")}");
    }

    [Fact]
    public void Rows_of_a_mask_row_in_turn_are_the_conv_nodes_output_and_follow_a_mask_changed_in_place()
    {
        // As the glue takes them: a mask row's rows in turn on one thread, the first without zerosKept (the others keep
        // its zeros and its list of active columns). Then the mask's cells changed in the same buffer (the next frame's)
        // and the same rows again, the mask rows in reverse so that the first is the one just done: its first row lists
        // the new cells, not the ones kept from before.
        var r = new Random(5);
        const int n = 2, cin = 35, cout = 4, h = 20, w = 70, scale = 8;
        var (tau, packedW, alpha, bias, x, mask) = RandomLayer(r, n, cin, cout, h, w, scale, 0.5);
        var (mh, _) = MaskGeometry.MaskSize(h, w, scale);
        using var folded = new FoldedSparseConv(packedW, alpha, tau, bias, scale);
        using var conv = new BinaryConvolution(BinaryConv2dParams.Square(1, cin, 1, 1, cout, 3), packedW, alpha, tau, bias);
        var expected = new float[n * cout * h * w];
        var rows = new float[cout * w];
        fixed (float* px = x, py = expected, pr = rows) fixed (byte* pm = mask)
        {
            for (int frame = 0; frame < 2; frame++)
            {
                if (frame == 1)
                    for (int i = 0; i < mask.Length; i++) mask[i] = (byte)(mask[i] == 0 && r.Next(2) == 0 ? 1 : 0); // mostly other cells
                new SparseBinaryConvolution(conv, scale).Run(px, n, h, w, pm, py, ParallelRunners.Sequential);
                var layer = folded.Layer(n, h, w);
                using var packed = folded.Pack(layer, px, pm, ParallelRunners.Sequential);
                var order = Enumerable.Range(0, n * mh).ToArray();
                if (frame == 1) Array.Reverse(order);
                foreach (int task in order)
                {
                    int b = task / mh, m = task % mh;
                    Array.Fill(rows, float.NaN); // a mask row's first row writes every value
                    for (int oy = m * scale; oy < Math.Min(h, (m + 1) * scale); oy++)
                    {
                        folded.Row(layer, packed.Pointer, pm, b, oy, pr, w, zerosKept: oy > m * scale);
                        for (int co = 0; co < cout; co++)
                            Assert.True(new ReadOnlySpan<float>(py + ((b * cout + co) * h + oy) * w, w).SequenceEqual(rows.AsSpan(co * w, w)),
                                $"frame {frame}, image {b}, row {oy}, channel {co}");
                    }
                }
            }
        }
    }

    private static OnnxGraphBuilder Glue(string[] inputs, long? maskScale, int maskWidth = 2)
    {
        var g = new OnnxGraphBuilder("bad");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, 1, 3, 4, 5);
        g.Input("A", TensorProto.Types.DataType.Float, 1, 2, 4, 5);
        g.Input("M", TensorProto.Types.DataType.Uint8, 1, 1, 1, maskWidth);
        g.Initializer(Tensors.Float("b", [0f, 0f], 2));
        g.Initializer(Tensors.UInt64("W", new ulong[18], 2, 3, 3, 1));
        g.Initializer(Tensors.UInt64("W1", [1UL, 2UL], 2, 1, 1, 1));
        g.Initializer(Tensors.Float("a", [1f, 1f], 2));
        g.Initializer(Tensors.Float("t", [0f, 0f, 0f], 3));
        var node = g.Node(BinaryConvSchema.ShortcutRPReLU, inputs, ["Y"], "glue", BinaryConvSchema.Domain);
        if (maskScale is { } s) node.Attribute(BinaryConvSchema.ActivationSparseMaskScale, s);
        g.Output("Y", TensorProto.Types.DataType.Float, 1, 2, 4, 5);
        return g;
    }

    [Theory]
    [InlineData(new[] { "A", "", "", "b", "b", "b", "", "", "", "", "", "", "", "", "", "", "X", "W", "a", "t" }, 4L, "SparseX (or SparseXPacked), SparseW, SparseAlpha, SparseTau, SparseMask and attribute sparse_mask_scale go together (a folded sparse conv; SparseBias is optional)")]
    [InlineData(new[] { "A", "", "", "b", "b", "b", "", "", "", "", "", "", "", "", "", "", "X", "W", "a", "t", "", "M" }, null, "SparseX (or SparseXPacked), SparseW, SparseAlpha, SparseTau, SparseMask and attribute sparse_mask_scale go together (a folded sparse conv; SparseBias is optional)")]
    [InlineData(new[] { "A", "", "", "b", "b", "b", "", "", "", "", "", "", "", "", "", "", "X", "W", "a", "t", "", "M" }, 3L, "attribute sparse_mask_scale must be one of 1, 2, 4, 8, 16, got 3")]
    [InlineData(new[] { "A", "", "", "b", "b", "b", "", "", "", "", "", "", "", "", "", "", "X", "W1", "a", "t", "", "M" }, 4L, "SparseW must be the packed uint64 [2, 3, 3, 1] of a 3×3 conv with C = 2 outputs and SparseTau's Cin = 3 inputs, got uint64 [2, 1, 1, 1]")]
    [InlineData(new[] { "A", "", "", "b", "b", "b", "", "", "", "", "", "", "", "", "", "", "X", "W", "t", "t", "", "M" }, 4L, "SparseAlpha must be float32 [C = 2], got float32 [3]")]
    [InlineData(new[] { "A", "A", "", "b", "b", "b", "", "", "", "", "", "", "", "", "", "", "X", "W", "a", "t", "", "M" }, 4L, "has both an Addend and a folded sparse conv (SparseX … SparseMask), whose output is the Addend: leave Addend and AddendScale empty")]
    public void A_malformed_fold_is_refused_in_one_line(string[] inputs, long? maskScale, string message)
    {
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => new InferenceSession(Glue(inputs, maskScale).ToBytes(), options).Dispose());
        Assert.Contains($"ShortcutRPReLU node 'glue': {message}", e.Message);
    }

    [Fact]
    public void A_mask_of_the_wrong_shape_is_refused_when_it_runs()
    {
        string[] inputs = ["A", "", "", "b", "b", "b", "", "", "", "", "", "", "", "", "", "", "X", "W", "a", "t", "", "M"];
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        using var session = new InferenceSession(Glue(inputs, 4, maskWidth: 3).ToBytes(), options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => session.Run([
            NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(new float[60], [1, 3, 4, 5])),
            NamedOnnxValue.CreateFromTensor("A", new DenseTensor<float>(new float[40], [1, 2, 4, 5])),
            NamedOnnxValue.CreateFromTensor("M", new DenseTensor<byte>(new byte[3], [1, 1, 1, 3]))]).Dispose());
        Assert.Contains("ShortcutRPReLU node 'glue': SparseMask must be uint8 or bool [N, 1, ceil(H/k), ceil(W/k)] = [1, 1, 1, 2] for Y [1, 2, 4, 5] and sparse_mask_scale 4, got uint8 [1, 1, 1, 3]", e.Message);
    }
}
