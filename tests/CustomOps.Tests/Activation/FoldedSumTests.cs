using BiVM.Contracts;
using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

namespace BiVM.CustomOps.Tests.Activation;

/// <summary>
/// The ShortcutSum folded into the ShortcutRPReLU whose output is its X (<see cref="TrailingSumFusion"/>, inputs 24 …
/// with sum_scales and sum_repeats): the folded node against the glue followed by the ShortcutSum node, bit for bit, on
/// each path of the glue (channel planes, and rows computed from a folded 1×1 conv's bits), with one to three terms
/// and their channel repeats; the pass's inverse; the graphs the pass leaves alone; and the malformed nodes the op refuses.
/// </summary>
public sealed unsafe class FoldedSumTests
{
    private static float[] Values(Random r, int n, float scale = 1f)
    {
        var v = new float[n];
        // Zeros of both signs too: the sum must keep the graph's signed zeros.
        for (int i = 0; i < n; i++) v[i] = i % 17 == 3 ? 0f : i % 19 == 5 ? -0f : (float)(r.NextDouble() * 2 - 1) * scale;
        return v;
    }

    /// <summary>Terms' scales and repeats the cases take the first of (the backbone's: a repeated shortcut, a plain one, a pair of halves).</summary>
    private static readonly float[] Scales = [0.4375f, -0.8f, 1f];
    private static readonly long[] Repeats = [4, 1, 2];

    [Theory]
    // C, H, W, a folded 1×1 conv (its Cin; 0: the glue reads X), folded InstanceNormalization, an Addend, terms, threads.
    [InlineData(8, 5, 37, 0, false, true, 1, 1)]    // channel planes, one repeated term
    [InlineData(8, 6, 16, 0, true, true, 2, 2)]     // with the plane statistics
    [InlineData(16, 9, 40, 35, true, true, 3, 2)]   // a folded 1×1 through a plane (the backbone's act1 glues)
    [InlineData(16, 256, 256, 35, true, false, 3, 2)] // 4 MiB a plane: the 1×1's rows from the bits, row by row
    [InlineData(16, 256, 257, 16, false, true, 1, 1)]
    public void Folded_sum_equals_the_glue_then_the_ShortcutSum(int c, int h, int w, int cin, bool norm, bool addend, int terms, int threads)
    {
        const int n = 2;
        var r = new Random(c * 1000 + h + w + terms);
        int xChannels = cin > 0 ? cin : c;
        var x = Values(r, n * xChannels * h * w, 2f);
        var a = Values(r, n * c * h * w);
        var z = Enumerable.Range(0, terms).Select(t => Values(r, n * (c / (int)Repeats[t]) * h * w, 3f)).ToArray();
        float[] shiftIn = Values(r, c), slope = Values(r, c), shiftOut = Values(r, c), normScale = Values(r, c, 2f), normBias = Values(r, c);
        var pointTau = Values(r, Math.Max(1, cin), 0.3f);
        var xPacked = cin > 0 ? ActivationPacker.Pack(x, pointTau, n, cin, h, w) : [];

        var g = new OnnxGraphBuilder("chain");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, n, xChannels, h, w);
        g.Input("A", TensorProto.Types.DataType.Float, n, c, h, w);
        for (int t = 0; t < terms; t++) g.Input($"Z{t + 1}", TensorProto.Types.DataType.Float, n, c / Repeats[t], h, w);
        if (cin > 0) g.Input("XP", TensorProto.Types.DataType.Uint64, n, h, w, 1);
        g.Initializer(Tensors.Float("b1", shiftIn, c));
        g.Initializer(Tensors.Float("k", slope, c, 1, 1));
        g.Initializer(Tensors.Float("b2", shiftOut, 1, c, 1, 1));
        g.Initializer(Tensors.Float("ns", normScale, c));
        g.Initializer(Tensors.Float("nb", normBias, c));
        var inputs = new List<string> { "X", addend ? "A" : "", "", "b1", "k", "b2", "", norm ? "ns" : "", norm ? "nb" : "" };
        if (cin > 0)
        {
            var signs = Enumerable.Range(0, c * cin).Select(_ => r.Next(2) == 0 ? 1f : -1f).ToArray();
            g.Initializer(Tensors.UInt64("PW", WeightPacker.Pack(signs, c, cin, 1, 1), c, 1, 1, 1));
            g.Initializer(Tensors.Float("Palpha", Values(r, c, 0.5f), c));
            g.Initializer(Tensors.Float("Ptau", pointTau, cin));
            g.Initializer(Tensors.Float("Pbias", Values(r, c, 0.2f), c));
            inputs.AddRange(["", "", "PW", "Palpha", "Ptau", "Pbias", "XP"]);
        }
        g.Node(BinaryConvSchema.ShortcutRPReLU, [.. inputs], ["G"], "glue", BinaryConvSchema.Domain);
        g.Node(BinaryConvSchema.ShortcutSum, ["G", .. Enumerable.Range(1, terms).Select(t => $"Z{t}")], ["Y"], "sum", BinaryConvSchema.Domain)
            .Attribute(BinaryConvSchema.ShortcutSumScales, Scales[..terms]).Attribute(BinaryConvSchema.ShortcutSumRepeats, Repeats[..terms]);
        g.Output("Y", TensorProto.Types.DataType.Float, n, c, h, w);
        var chain = ModelProto.Parser.ParseFrom(g.ToBytes());

        var folded = GlueFusion.Apply(chain).Model;
        Assert.Equal(1, TrailingSumFusion.Count(folded));
        var glue = Assert.Single(folded.Graph.Node);
        Assert.Equal(["Y"], glue.Output);
        Assert.Equal(Enumerable.Range(1, terms).Select(t => $"Z{t}"), glue.Input.Skip(BinaryConvSchema.ActivationSumTerms));
        var unfolded = TrailingSumFusion.Unfolded(folded);
        Assert.Equal(0, TrailingSumFusion.Count(unfolded));
        Assert.Equal([BinaryConvSchema.ShortcutRPReLU, BinaryConvSchema.ShortcutSum], unfolded.Graph.Node.Select(node => node.OpType));
        Assert.Equal(1, TrailingSumFusion.Count(GlueFusion.Apply(unfolded).Model));

        float[] Run(ModelProto model)
        {
            using var options = new SessionOptions { IntraOpNumThreads = threads };
            BiVMOps.Register(options);
            using var session = new InferenceSession(Google.Protobuf.MessageExtensions.ToByteArray(model), options);
            var feeds = new List<NamedOnnxValue>
            {
                NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, [n, xChannels, h, w])),
                NamedOnnxValue.CreateFromTensor("A", new DenseTensor<float>(a, [n, c, h, w])),
            };
            for (int t = 0; t < terms; t++) feeds.Add(NamedOnnxValue.CreateFromTensor($"Z{t + 1}", new DenseTensor<float>(z[t], [n, c / (int)Repeats[t], h, w])));
            if (cin > 0) feeds.Add(NamedOnnxValue.CreateFromTensor("XP", new DenseTensor<ulong>(xPacked, [n, h, w, 1])));
            using var results = session.Run(feeds);
            return results.Single().AsTensor<float>().ToArray();
        }

        var expected = Run(chain);
        AssertSame(expected, Run(folded));
        AssertSame(expected, Run(unfolded));
    }

    [Fact]
    public void Sum_whose_term_is_the_glues_X_or_whose_X_is_read_elsewhere_is_not_folded()
    {
        foreach (bool termIsX in new[] { true, false })
        {
            var g = new OnnxGraphBuilder("kept");
            g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
            g.Input("X", TensorProto.Types.DataType.Float, 1, 4, 3, 3);
            g.Input("Z", TensorProto.Types.DataType.Float, 1, 4, 3, 3);
            g.Initializer(Tensors.Float("b", [0f, 1f, 2f, 3f], 4));
            g.Node(BinaryConvSchema.ShortcutRPReLU, ["X", "", "", "b", "b", "b"], ["G"], "glue", BinaryConvSchema.Domain);
            g.Node(BinaryConvSchema.ShortcutSum, ["G", termIsX ? "X" : "Z"], ["Y"], "sum", BinaryConvSchema.Domain)
                .Attribute(BinaryConvSchema.ShortcutSumScales, [1f]).Attribute(BinaryConvSchema.ShortcutSumRepeats, [1L]);
            g.Output("Y", TensorProto.Types.DataType.Float, 1, 4, 3, 3);
            if (!termIsX) g.Output("G", TensorProto.Types.DataType.Float, 1, 4, 3, 3); // the glue's Y is read outside too
            var fused = GlueFusion.Apply(ModelProto.Parser.ParseFrom(g.ToBytes())).Model;
            Assert.Equal(0, TrailingSumFusion.Count(fused));
            Assert.Contains(fused.Graph.Node, node => node.OpType == BinaryConvSchema.ShortcutSum);
        }
    }

    [Theory]
    [InlineData("X", "sum_scales=1", "sum_repeats=1", "sum term 1 is X ('X'), which Y may be written over")]
    [InlineData("Z", "sum_scales=1", "", "a folded sum needs both attributes sum_scales and sum_repeats (one value per term)")]
    [InlineData("Z", "", "", "a folded sum needs both attributes sum_scales and sum_repeats (one value per term)")]
    [InlineData("Z", "sum_scales=1,2", "sum_repeats=1", "attributes sum_scales and sum_repeats must have the same number of values, 1 to 3 (one per term), got 2 and 1")]
    [InlineData("Z", "sum_scales=1", "sum_repeats=3", "attribute sum_repeats [3] must hold values >= 1 that divide C = 4")]
    [InlineData("", "sum_scales=1", "sum_repeats=1", "a folded sum of 1 term(s) takes inputs 24 to 24; input 24 is missing")]
    [InlineData("Z", "sum_scales=1", "sum_repeats=1,tau_next", "a folded sum (inputs 24 …) is Y's: Y must be named and written whole, without YPacked, YPackedSecond, Projected or YRest")]
    public void Malformed_folded_sum_is_refused_in_one_line_when_the_session_is_created(string term, string scales, string repeats, string message)
    {
        var g = new OnnxGraphBuilder("bad");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, 1, 4, 3, 3);
        g.Input("Z", TensorProto.Types.DataType.Float, 1, 4, 3, 3);
        g.Initializer(Tensors.Float("b", [0f, 1f, 2f, 3f], 4));
        bool packed = repeats.EndsWith(",tau_next", StringComparison.Ordinal);
        var inputs = Enumerable.Repeat("", BinaryConvSchema.ActivationSumTerms + 1).ToArray();
        (inputs[0], inputs[3], inputs[4], inputs[5]) = ("X", "b", "b", "b");
        if (packed) inputs[BinaryConvSchema.ActivationTauNext] = "b";
        inputs[BinaryConvSchema.ActivationSumTerms] = term;
        var node = g.Node(BinaryConvSchema.ShortcutRPReLU, inputs, packed ? ["Y", "Y.packed"] : ["Y"], "glue", BinaryConvSchema.Domain);
        if (scales.Length > 0) node.Attribute(BinaryConvSchema.ActivationSumScales, scales["sum_scales=".Length..].Split(',').Select(float.Parse).ToArray());
        string repeatValues = packed ? repeats[..^",tau_next".Length] : repeats;
        if (repeatValues.Length > 0) node.Attribute(BinaryConvSchema.ActivationSumRepeats, repeatValues["sum_repeats=".Length..].Split(',').Select(long.Parse).ToArray());
        g.Output("Y", TensorProto.Types.DataType.Float, 1, 4, 3, 3);
        if (packed) g.Output("Y.packed", TensorProto.Types.DataType.Uint64, 1, 3, 3, 1);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => new InferenceSession(g.ToBytes(), options).Dispose());
        Assert.Contains($"ShortcutRPReLU node 'glue': {message}", e.Message);
        Assert.DoesNotContain('\n', e.Message.Trim());
    }

    [Fact]
    public void Term_of_the_wrong_shape_is_reported_in_one_line()
    {
        var g = new OnnxGraphBuilder("bad");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, 1, 4, 3, 3);
        g.Input("Z", TensorProto.Types.DataType.Float, 1, 4, 3, 3);
        g.Initializer(Tensors.Float("b", [0f, 1f, 2f, 3f], 4));
        var inputs = Enumerable.Repeat("", BinaryConvSchema.ActivationSumTerms + 1).ToArray();
        (inputs[0], inputs[3], inputs[4], inputs[5], inputs[BinaryConvSchema.ActivationSumTerms]) = ("X", "b", "b", "b", "Z");
        g.Node(BinaryConvSchema.ShortcutRPReLU, inputs, ["Y"], "glue", BinaryConvSchema.Domain)
            .Attribute(BinaryConvSchema.ActivationSumScales, [0.5f]).Attribute(BinaryConvSchema.ActivationSumRepeats, [2L]);
        g.Output("Y", TensorProto.Types.DataType.Float, 1, 4, 3, 3);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        using var session = new InferenceSession(g.ToBytes(), options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => session.Run([
            NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(new float[36], [1, 4, 3, 3])),
            NamedOnnxValue.CreateFromTensor("Z", new DenseTensor<float>(new float[36], [1, 4, 3, 3]))]));
        Assert.Contains("ShortcutRPReLU node 'glue': sum term 1 must be float32 [1, 2, 3, 3] (Y [1, 4, 3, 3], sum_repeats 2), got float32 [1, 4, 3, 3]", e.Message);
    }

    private static void AssertSame(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]), $"Y[{i}]: chain {expected[i]:R}, folded {actual[i]:R}");
    }
}
