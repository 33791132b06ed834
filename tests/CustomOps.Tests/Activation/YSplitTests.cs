using BiVM.Contracts;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

namespace BiVM.CustomOps.Tests.Activation;

/// <summary>
/// ShortcutRPReLU writing Y as two halves (attribute y_split, outputs Y and YRest) against the glue writing Y whole
/// and ONNX's Split after it: the same bits (here on the glue's whole-plane path, with and without a folded
/// normalization; the row path of the decoder's glues with folded convs, which the shipped model's splits take, in
/// the Export tests' whole models); <see cref="YSplitFusion"/> rewrites the pair and <see cref="YSplitFusion.Restore"/>
/// undoes it; with a split, the packed outputs as YRest's bits (the ConvGRU's X, <see cref="GruHandOffFusion"/>), with
/// and without YRest's floats; and what the op refuses.
/// </summary>
public sealed class YSplitTests
{
    private const int N = 2, C = 6, H = 5, W = 19;

    [Theory]
    [InlineData(false, 1)] // one channel plane per task
    [InlineData(true, 2)]  // with an InstanceNormalization folded in: its statistics first, then bands of rows
    public void Halves_written_by_the_glue_equal_the_split_of_its_Y(bool norm, int threads)
    {
        var r = new Random(norm ? 7 : 3);
        var x = RandomValues.Uniform(r, N * C * H * W);
        var a = RandomValues.Uniform(r, N * C * H * W);
        var g = new OnnxGraphBuilder("split");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, N, C, H, W);
        g.Input("A", TensorProto.Types.DataType.Float, N, C, H, W);
        g.Initializer(Tensors.Float("b1", RandomValues.Uniform(r, C), C, 1, 1));
        g.Initializer(Tensors.Float("k", RandomValues.Uniform(r, C), C, 1, 1));
        g.Initializer(Tensors.Float("b2", RandomValues.Uniform(r, C), 1, C, 1, 1));
        g.Initializer(Tensors.Float("ns", RandomValues.Uniform(r, C), C));
        g.Initializer(Tensors.Float("nb", RandomValues.Uniform(r, C), C));
        g.Initializer(Tensors.Int64("halves", [C / 2, C / 2], 2));
        g.Node(BinaryConvSchema.ShortcutRPReLU, ["X", "A", "", "b1", "k", "b2", "", norm ? "ns" : "", norm ? "nb" : ""], ["Y"], "glue", BinaryConvSchema.Domain);
        g.Node("Split", ["Y", "halves"], ["Y0", "Y1"], "split").Attribute("axis", 1L);
        g.Node("Relu", ["Y1"], ["R"], "reader"); // a reader of the second half that is not a graph output
        g.Output("Y0", TensorProto.Types.DataType.Float, N, C / 2, H, W);
        g.Output("R", TensorProto.Types.DataType.Float, N, C / 2, H, W);
        var chain = ModelProto.Parser.ParseFrom(g.ToBytes());

        var fused = GlueFusion.Apply(chain).Model;
        Assert.Equal(1, YSplitFusion.Count(fused));
        Assert.DoesNotContain(fused.Graph.Node, n => n.OpType == "Split");
        Assert.DoesNotContain(fused.Graph.Initializer, t => t.Name == "halves"); // ORT warns about unread initializers
        var restored = fused.Clone();
        YSplitFusion.Restore(restored);
        Assert.Equal(0, YSplitFusion.Count(restored));
        Assert.Contains(restored.Graph.Node, n => n.OpType == "Split");

        var expected = Run(chain, x, a, threads);
        AssertSame(expected, Run(fused, x, a, threads));
        AssertSame(expected, Run(restored, x, a, threads));
        if (!norm) AssertSame(expected, Run(GlueFusion.Unfuse(fused), x, a, threads)); // (ORT's InstanceNormalization is within float rounding)
    }

    [Theory]
    [InlineData(new long[] { 2, 4 })] // not two halves
    [InlineData(null)]                // Y read by another node too
    public void Splits_the_glue_cannot_write_stay(long[]? sizes)
    {
        var g = new OnnxGraphBuilder("kept");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, N, C, H, W);
        g.Initializer(Tensors.Float("b", new float[C], C));
        g.Initializer(Tensors.Int64("sizes", sizes ?? [C / 2, C / 2], 2));
        g.Node(BinaryConvSchema.ShortcutRPReLU, ["X", "", "", "b", "b", "b"], ["Y"], "glue", BinaryConvSchema.Domain);
        g.Node("Split", ["Y", "sizes"], ["Y0", "Y1"], "split").Attribute("axis", 1L);
        g.Output("Y0", TensorProto.Types.DataType.Float, N, sizes?[0] ?? C / 2, H, W);
        g.Output("Y1", TensorProto.Types.DataType.Float, N, sizes?[1] ?? C / 2, H, W);
        if (sizes is null)
        {
            g.Node("Relu", ["Y"], ["R"], "other");
            g.Output("R", TensorProto.Types.DataType.Float, N, C, H, W);
        }
        var fused = GlueFusion.Apply(ModelProto.Parser.ParseFrom(g.ToBytes())).Model;
        Assert.Equal(0, YSplitFusion.Count(fused));
        Assert.Contains(fused.Graph.Node, n => n.OpType == "Split");
    }

    [Theory]
    [InlineData(0, 1)] // YRest written: the glue's bands of rows, YRest's bits from its planes
    [InlineData(0, 2)]
    [InlineData(1, 1)] // YRest's floats not written: row by row, YRest's rows in scratch
    [InlineData(1, 3)]
    [InlineData(2, 2)] // only YPackedSecond
    public void With_a_split_the_packed_outputs_are_the_bits_of_YRest(int variant, int threads)
    {
        // Reference: the same glue writing Y and YRest as floats; its YRest packed by the packer against each τ.
        const int s = 2, rest = C - s;
        var r = new Random(11 + variant);
        var x = RandomValues.Uniform(r, N * C * H * W);
        var a = RandomValues.Uniform(r, N * C * H * W);
        var tauIh = RandomValues.Uniform(r, rest);
        var tauHh = RandomValues.Uniform(r, rest);
        ModelProto Glue(bool bits)
        {
            var g = new OnnxGraphBuilder("rest-bits");
            g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
            g.Input("X", TensorProto.Types.DataType.Float, N, C, H, W);
            g.Input("A", TensorProto.Types.DataType.Float, N, C, H, W);
            var pr = new Random(5);
            g.Initializer(Tensors.Float("b1", RandomValues.Uniform(pr, C), C, 1, 1));
            g.Initializer(Tensors.Float("k", RandomValues.Uniform(pr, C), C, 1, 1));
            g.Initializer(Tensors.Float("b2", RandomValues.Uniform(pr, C), 1, C, 1, 1));
            g.Initializer(Tensors.Float("tau_ih", tauIh, rest));
            g.Initializer(Tensors.Float("tau_hh", tauHh, rest));
            var node = g.Node(BinaryConvSchema.ShortcutRPReLU, ["X", "A", "", "b1", "k", "b2"], ["Y"], "glue", BinaryConvSchema.Domain);
            node.Attribute(BinaryConvSchema.ActivationYSplit, (long)s);
            g.Output("Y", TensorProto.Types.DataType.Float, N, s, H, W);
            var model = ModelProto.Parser.ParseFrom(g.ToBytes());
            var glue = model.Graph.Node.Single();
            var yInfo = model.Graph.Output[0];
            void Output(int at, string name, TensorProto.Types.DataType type, params long[] dims)
            {
                SetAt(glue.Output, at, name);
                var info = yInfo.Clone();
                info.Name = name;
                info.Type.TensorType.ElemType = (int)type;
                info.Type.TensorType.Shape.Dim.Clear();
                foreach (long d in dims) info.Type.TensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
                model.Graph.Output.Add(info);
            }
            if (!bits || variant == 0) Output(BinaryConvSchema.ActivationRestOutput, "Z", TensorProto.Types.DataType.Float, N, rest, H, W);
            if (bits && variant != 2)
            {
                SetAt(glue.Input, BinaryConvSchema.ActivationTauNext, "tau_ih");
                Output(BinaryConvSchema.ActivationPackedOutput, "ZP", TensorProto.Types.DataType.Uint64, N, H, W, 1);
            }
            if (bits)
            {
                SetAt(glue.Input, BinaryConvSchema.ActivationTauSecond, "tau_hh");
                Output(BinaryConvSchema.ActivationSecondPackedOutput, "ZS", TensorProto.Types.DataType.Uint64, N, H, W, 1);
            }
            return model;
        }

        using var options = new SessionOptions { IntraOpNumThreads = threads };
        BiVMOps.Register(options);
        Dictionary<string, DisposableNamedOnnxValue> Outputs(ModelProto model, out IDisposable results)
        {
            var session = new InferenceSession(Google.Protobuf.MessageExtensions.ToByteArray(model), options);
            var run = session.Run([
                NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, [N, C, H, W])),
                NamedOnnxValue.CreateFromTensor("A", new DenseTensor<float>(a, [N, C, H, W]))]);
            results = new Both(run, session);
            return run.ToDictionary(v => v.Name);
        }
        var reference = Outputs(Glue(bits: false), out var referenceResults);
        var packed = Outputs(Glue(bits: true), out var packedResults);
        using (referenceResults)
        using (packedResults)
        {
            var z = reference["Z"].AsTensor<float>().ToArray();
            Assert.Equal(reference["Y"].AsTensor<float>().ToArray(), packed["Y"].AsTensor<float>().ToArray());
            if (variant == 0) Assert.Equal(z, packed["Z"].AsTensor<float>().ToArray());
            else Assert.DoesNotContain("Z", packed.Keys);
            var expectedIh = BiVM.CustomOps.BitPacking.ActivationPacker.Pack(z, tauIh, N, rest, H, W);
            var expectedHh = BiVM.CustomOps.BitPacking.ActivationPacker.Pack(z, tauHh, N, rest, H, W);
            Assert.NotEqual(expectedIh, expectedHh); // the two τ give different bits: each output is checked against its own
            if (variant != 2) Assert.Equal(expectedIh, packed["ZP"].AsTensor<ulong>().ToArray());
            Assert.Equal(expectedHh, packed["ZS"].AsTensor<ulong>().ToArray());
        }
    }

    private static void SetAt(Google.Protobuf.Collections.RepeatedField<string> names, int i, string value)
    {
        while (names.Count <= i) names.Add("");
        names[i] = value;
    }

    /// <summary>A session's results and the session, disposed together.</summary>
    private sealed class Both(IDisposable results, IDisposable session) : IDisposable
    {
        public void Dispose()
        {
            results.Dispose();
            session.Dispose();
        }
    }

    [Theory]
    [InlineData(6L, true, false, false, "attribute y_split = 6 must leave channels in both parts: 0 < s < C = 6")]
    [InlineData(3L, false, false, false, "attribute y_split writes Y in two outputs, Y and YRest: both must be named (YRest may be left out where YPacked or YPackedSecond holds its bits)")]
    [InlineData(3L, true, true, false, "TauNext has 6 values, expected C − y_split = 3 (YRest's channels)")]
    [InlineData(3L, true, false, true, "attribute y_split cannot go with Projected (it reads Y whole)")]
    [InlineData(null, true, false, false, "output YRest needs the attribute y_split (they go together)")]
    public void Bad_splits_are_refused_in_one_line_when_the_session_is_created(long? split, bool rest, bool packed, bool projected, string message)
    {
        var g = new OnnxGraphBuilder("bad");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, 1, C, 3, 3);
        g.Initializer(Tensors.Float("b", new float[C], C));
        g.Initializer(Tensors.Float("p", new float[2 * C], 2, C, 1, 1));
        string[] inputs = projected ? ["X", "", "", "b", "b", "b", "", "", "", "p"] : ["X", "", "", "b", "b", "b", packed ? "b" : ""];
        var node = g.Node(BinaryConvSchema.ShortcutRPReLU, inputs, packed ? ["Y", "YP"] : ["Y"], "glue", BinaryConvSchema.Domain);
        if (split is { } s) node.Attribute(BinaryConvSchema.ActivationYSplit, s);
        g.Output("Y", TensorProto.Types.DataType.Float, 1, split is { } t && t < C ? t : C, 3, 3);
        if (packed) g.Output("YP", TensorProto.Types.DataType.Uint64, 1, 3, 3, 1);
        var model = ModelProto.Parser.ParseFrom(g.ToBytes());
        if (projected)
        {
            // Projected (output 2) after an empty name, which the builder does not write.
            SetAt(model.Graph.Node.Single(n => n.Name == "glue").Output, BinaryConvSchema.ActivationProjectedOutput, "YQ");
            var q = model.Graph.Output[0].Clone();
            q.Name = "YQ";
            model.Graph.Output.Add(q);
        }
        if (rest)
        {
            // YRest (output 4) after empty names, which the builder does not write.
            var glue = model.Graph.Node.Single(n => n.Name == "glue");
            while (glue.Output.Count < BinaryConvSchema.ActivationRestOutput) glue.Output.Add("");
            glue.Output.Add("Z");
            var z = model.Graph.Output[0].Clone();
            z.Name = "Z";
            model.Graph.Output.Add(z);
        }
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => new InferenceSession(Google.Protobuf.MessageExtensions.ToByteArray(model), options).Dispose());
        Assert.Contains("ShortcutRPReLU node 'glue': " + message, e.Message);
    }

    private static float[][] Run(ModelProto model, float[] x, float[] a, int threads)
    {
        using var options = new SessionOptions { IntraOpNumThreads = threads };
        BiVMOps.Register(options);
        using var session = new InferenceSession(Google.Protobuf.MessageExtensions.ToByteArray(model), options);
        using var results = session.Run([
            NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, [N, C, H, W])),
            NamedOnnxValue.CreateFromTensor("A", new DenseTensor<float>(a, [N, C, H, W]))]);
        return results.OrderBy(v => v.Name, StringComparer.Ordinal).Select(v => v.AsTensor<float>().ToArray()).ToArray();
    }

    private static void AssertSame(float[][] expected, float[][] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int t = 0; t < expected.Length; t++)
        {
            Assert.Equal(expected[t].Length, actual[t].Length);
            for (int i = 0; i < expected[t].Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(expected[t][i]) == BitConverter.SingleToInt32Bits(actual[t][i]), $"output {t}[{i}]: {expected[t][i]:R} vs {actual[t][i]:R}");
        }
    }
}
