using BiVM.Contracts;
using BiVM.Graph;
using BiVM.Model;
using BiVM.Model.Binarization;
using BiVM.Model.Decoder;
using Onnx;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace BiVM.Export.Tests;

/// <summary>
/// The binary layers themselves: every BinaryConv2d / SparseBinaryConv2d output of a whole network is
/// bit-identical between the ai.bivm kernels and the lowered graph, and the integer part of single layers taken
/// from the network equals TorchSharp's conv of the signs.
/// </summary>
public sealed class BinaryLayerTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData("bivm")]
    [InlineData("rvm-react")]
    public void Every_binary_node_output_is_identical_in_custom_and_lowered_files(string family)
    {
        using var network = TestNetworks.Create(ModelFamilyNames.Parse(family));
        var custom = MattingExporter.Export(network, new ExportOptions { ExposeBinaryOutputs = true });
        var lowered = MattingExporter.Export(network, new ExportOptions { ExposeBinaryOutputs = true, Lowered = true });
        var exposed = custom.Model.Graph.Output.Select(o => o.Name).Except(MattingContract.Outputs).ToArray();
        // All binary convs except the DGF's, which live inside the If branch (not addressable from outside).
        Assert.Equal(custom.BinaryNodes.Count(n => !n.Node.StartsWith("refiner.", StringComparison.Ordinal)), exposed.Length);
        Assert.True(exposed.Length > 20, $"only {exposed.Length} binary nodes exposed");
        Assert.Equal(custom.BinaryNodes.Any(n => n.Sparse), family == "bivm");

        using var a = new OrtMatting(custom.ToBytes());
        using var b = new OrtMatting(lowered.ToBytes());
        int compared = 0;
        foreach (var frame in Sequences.Frames(2, 64, 96))
        {
            var x = a.Step(frame, [1, 3, 64, 96], 1f);
            var y = b.Step(frame, [1, 3, 64, 96], 1f);
            foreach (var name in exposed)
            {
                Assert.Equal(y.Shapes[name], x.Shapes[name]);
                // Bitwise: same integer dot, then the same float Mul and Add.
                Assert.True(x[name].AsSpan().SequenceEqual(y[name]), $"{name}: custom and lowered outputs differ");
                compared += x[name].Length;
            }
        }
        log.WriteLine($"{family}: {exposed.Length} binary nodes, {compared} values compared bit for bit over 2 frames");
    }

    public static TheoryData<string, int> Layers => new()
    {
        { "backbone.blocks.1.head.conv3", 0 },   // 3×3 stride 2
        { "backbone.blocks.5.middle.conv3", 0 }, // 3×3 dilation 2
        { "decoder.decode2.conv.shb.sparse_conv3", 4 }, // SHB masked 3×3, k = 4
    };

    /// <summary>
    /// alpha = 1 and bias = 0 on a layer's real packed weights and τ: the node then outputs the integer conv itself,
    /// which must be identical in both forms and equal to conv2d(sign(x − τ), sign(w)) in TorchSharp. Inputs put
    /// some values exactly on τ, where sign(0) = +1 must hold everywhere.
    /// </summary>
    [Theory]
    [MemberData(nameof(Layers))]
    public void Integer_part_of_a_network_layer_matches_torch_in_both_forms(string path, int maskScale)
    {
        using var network = TestNetworks.Create(ModelFamily.Bivm);
        var unit = (ConvBnAct)network.named_modules().Single(m => m.name == path).module;
        var folded = unit.FoldForExport();
        var ones = ones_like(folded.Alpha);
        var integer = folded with { Alpha = ones, Bias = zeros_like(ones) };
        long cin = folded.Tau.shape[0], cout = folded.Alpha.shape[0];
        const int n = 2, h = 17, w = 13;

        var x = randn(n, cin, h, w, generator: new Generator(7)) * 0.3;
        var onTau = rand(n, cin, h, w, generator: new Generator(8)).lt(0.2);
        x = where(onTau, folded.Tau.view(1, -1, 1, 1).expand(n, cin, h, w), x);
        var xs = x.contiguous().data<float>().ToArray();
        int oh = (int)((h - 1) / folded.Stride + 1), ow = (int)((w - 1) / folded.Stride + 1);
        var mask = maskScale == 0 ? null : rand(n, 1, (oh + maskScale - 1) / maskScale, (ow + maskScale - 1) / maskScale, generator: new Generator(9)).ge(0.5).to_type(ScalarType.Byte);

        float[] Run(bool lowered)
        {
            var g = new ExportGraph("one_layer", lowered);
            g.Builder.Input("X", TensorProto.Types.DataType.Float, "N", cin, "H", "W");
            if (mask is not null) g.Builder.Input("Mask", TensorProto.Types.DataType.Uint8, "N", 1, "MH", "MW");
            var y = g.BinaryConv("layer", "X", integer, mask is null ? null : "Mask", Math.Max(1, maskScale));
            g.Builder.Output(y, TensorProto.Types.DataType.Float, "N", cout, "HO", "WO");
            using var session = new OneLayerSession(g.Builder.ToBytes());
            return session.Run(xs, [n, (int)cin, h, w], mask?.data<byte>().ToArray(), mask?.shape.Select(d => (int)d).ToArray());
        }

        var custom = Run(lowered: false);
        var lowered = Run(lowered: true);
        var activation = x.sub(folded.Tau.view(1, -1, 1, 1)).ge(0).to_type(ScalarType.Float32) * 2 - 1;
        var reference = nn.functional.conv2d(activation, folded.SignWeight, strides: [folded.Stride, folded.Stride],
            padding: [folded.Padding, folded.Padding], dilation: [folded.Dilation, folded.Dilation]);
        if (mask is not null) reference *= IncoherentMask.Upsample(mask.to_type(ScalarType.Float32), maskScale, oh, ow);
        var expected = reference.contiguous().data<float>().ToArray();

        Assert.Equal(expected.Length, custom.Length);
        Assert.True(custom.AsSpan().SequenceEqual(lowered), $"{path}: custom and lowered integer results differ");
        Assert.True(custom.AsSpan().SequenceEqual(expected), $"{path}: integer results differ from TorchSharp's conv of the signs");
        Assert.All(custom, v => Assert.Equal(Math.Round(v), v));
        Assert.Contains(custom, v => v != 0);
        log.WriteLine($"{path}: {custom.Length} integer outputs identical (max |dot| {custom.Max(Math.Abs)})");
    }
}
