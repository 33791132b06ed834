using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph.Tests;

/// <summary>
/// StemFusion (run by GlueFusion.Apply on graphs with ai.bivm ops): the stem's Sub, Div, Conv, InstanceNormalization and
/// HardSwish become one Stem that hands its binary-conv reader the bits and does its reader's 2×2 pool; Y is written only
/// where something else reads it; chains of another shape, or with an intermediate read elsewhere, stay; Unfuse gives the
/// standard nodes back and they fuse again. (Values: StemTests against ONNX Runtime, GlueFusionTests on the shipped models.)
/// </summary>
public sealed class StemFusionTests
{
    private const TensorProto.Types.DataType F32 = TensorProto.Types.DataType.Float;

    /// <summary>src → Sub → Div → Conv → InstanceNormalization → HardSwish → t, read by a binary conv and a 2×2 pool.</summary>
    /// <param name="inputPool">Also a 2×2 pool of src (the source pyramid's first level, "src.down2") and one of that ("src.down2.down2"): before the Sub, with a Relu reading it there, where "first".</param>
    private static ModelProto Graph(bool binary = true, string? extraReader = null, string? exposed = null, long stride = 2, bool meanFirst = false, bool marker = false,
        string? inputPool = null)
    {
        var g = new OnnxGraphBuilder("stem");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("src", F32, 1, 3, 32, 32);
        string mean = g.Initializer(Tensors.Float("mean", [0.4f, 0.5f, 0.6f], 1, 3, 1, 1)), std = g.Initializer(Tensors.Float("std", [0.2f, 0.2f, 0.2f], 1, 3, 1, 1));
        string w = g.Initializer(Tensors.Float("stem.weight", new float[16 * 27], 16, 3, 3, 3)), b = g.Initializer(Tensors.Float("stem.bias", new float[16], 16));
        string scale = g.Initializer(Tensors.Float("norm.scale", new float[16], 16)), shift = g.Initializer(Tensors.Float("norm.bias", new float[16], 16));
        string tau = g.Initializer(Tensors.Float("conv3.tau", Enumerable.Range(0, 16).Select(i => i * 0.01f).ToArray(), 16));
        void SourcePool(string input, string output) =>
            g.Node("AveragePool", [input], [output], output).Attribute("kernel_shape", 2L, 2L).Attribute("strides", 2L, 2L).Attribute("ceil_mode", 1L).Attribute("count_include_pad", 0L);
        if (inputPool == "first")
        {
            SourcePool("src", "src.down2");
            g.Node("Relu", ["src.down2"], ["src.relu"], "src.relu");
        }
        g.Node("Sub", meanFirst ? [mean, "src"] : ["src", mean], ["sub_mean"], "sub_mean");
        g.Node("Div", ["sub_mean", std], ["div_std"], "div_std");
        g.Node("Conv", ["div_std", w, b], ["stem"], "stem").Attribute("kernel_shape", 3L, 3L).Attribute("strides", stride, stride).Attribute("pads", 1L, 1L, 1L, 1L);
        g.Node("InstanceNormalization", ["stem", scale, shift], ["stem.norm"], "stem.norm").Attribute("epsilon", 1e-5f);
        g.Node("HardSwish", ["stem.norm"], ["stem.act"], "stem.act");
        if (binary)
            g.Node(BinaryConvSchema.BinaryConv2d, ["stem.act", "stem.weight", "stem.bias", tau], ["conv3"], "conv3", BinaryConvSchema.Domain)
                .Attribute("kernel_shape", 3L, 3L).Attribute("strides", 2L, 2L).Attribute("pads", 1L, 1L, 1L, 1L);
        else
            g.Node("Relu", ["stem.act"], ["conv3"], "conv3");
        g.Node("AveragePool", ["stem.act"], ["stem.act.down2"], "stem.act.down2").Attribute("kernel_shape", 2L, 2L).Attribute("strides", 2L, 2L)
            .Attribute("ceil_mode", 1L).Attribute("count_include_pad", 0L);
        if (extraReader is not null) g.Node("Relu", ["stem.act"], [extraReader], extraReader);
        if (inputPool == "last") SourcePool("src", "src.down2");
        if (inputPool is not null) SourcePool("src.down2", "src.down2.down2");
        // An ai.bivm op elsewhere: the passes run on binary models only.
        if (marker) g.Node(BinaryConvSchema.ShortcutSum, ["conv3", "conv3"], ["marker"], "marker", BinaryConvSchema.Domain);
        foreach (var output in new[] { marker ? "marker" : "conv3", "stem.act.down2" }.Concat(extraReader is null ? [] : [extraReader]).Concat(exposed is null ? [] : [exposed])
            .Concat(inputPool is null ? [] : ["src.down2.down2"]).Concat(inputPool == "first" ? ["src.relu"] : []))
            g.Output(output, F32, 1, -1, -1, -1);
        return ModelProto.Parser.ParseFrom(g.ToBytes());
    }

    private static NodeProto Conv3(ModelProto model) => model.Graph.Node.Single(n => n.Name == "conv3");

    [Fact]
    public void The_chain_becomes_one_stem_that_hands_on_its_bits_and_its_pool()
    {
        var fused = GlueFusion.Apply(Graph()).Model;
        var stem = Assert.Single(fused.Graph.Node, StemFusion.IsFused);
        Assert.Equal(["src", "mean", "std", "stem.weight", "stem.bias", "norm.scale", "norm.bias"], stem.Input);
        // Nothing else reads t: not written; the conv takes its bits, the pool is the stem's third output.
        Assert.Equal(["", "stem.act.packed", "stem.act.down2"], stem.Output);
        Assert.Equal(Enumerable.Range(0, 16).Select(i => i * 0.01f), stem.Attribute.Single(a => a.Name == BinaryConvSchema.TauNext).Floats);
        Assert.Equal(1, stem.Attribute.Single(a => a.Name == BinaryConvSchema.PoolCeilMode).I);
        Assert.Equal(1e-5f, stem.Attribute.Single(a => a.Name == BinaryConvSchema.StemEpsilon).F);
        var conv = Conv3(fused);
        Assert.Equal("", conv.Input[BinaryConvSchema.InputX]);
        Assert.Equal("stem.act.packed", conv.Input[BinaryConvSchema.InputXPacked]);
        Assert.Equal([BinaryConvSchema.Stem, BinaryConvSchema.BinaryConv2d], fused.Graph.Node.Select(n => n.OpType));
        Assert.Equal(1, StemFusion.Count(fused));
        Assert.Contains($"1 stem (input normalization, 3×3 Conv, InstanceNormalization, HardSwish and its pool) as one {BinaryConvSchema.Stem}",
            fused.MetadataProps.Single(m => m.Key == GlueFusion.MetadataKey).Value);
    }

    [Theory]
    [InlineData("relu", null)]
    [InlineData(null, "stem.act")]
    public void A_y_read_elsewhere_is_written(string? extraReader, string? exposed)
    {
        var fused = GlueFusion.Apply(Graph(extraReader: extraReader, exposed: exposed)).Model;
        var stem = Assert.Single(fused.Graph.Node, StemFusion.IsFused);
        Assert.Equal(["stem.act", "stem.act.packed", "stem.act.down2"], stem.Output);
        Assert.Equal("stem.act", Conv3(fused).Input[BinaryConvSchema.InputX]);
        Assert.Equal("stem.act.packed", Conv3(fused).Input[BinaryConvSchema.InputXPacked]);
    }

    [Fact]
    public void Without_a_binary_reader_the_stem_writes_y_and_the_pool()
    {
        // The Relu is t's reader, an ai.bivm op elsewhere: no bits to hand on.
        var model = Graph(binary: false, marker: true);
        var stem = Assert.Single(GlueFusion.Apply(model).Model.Graph.Node, StemFusion.IsFused);
        Assert.Equal(["stem.act", "", "stem.act.down2"], stem.Output);
        Assert.DoesNotContain(stem.Attribute, a => a.Name == BinaryConvSchema.TauNext);
    }

    [Theory]
    [InlineData("stride")]
    [InlineData("exposed")]
    [InlineData("mean first")]
    [InlineData("no binary ops")]
    public void Other_chains_stay_standard(string variant)
    {
        var model = variant switch
        {
            "stride" => Graph(stride: 1),
            "exposed" => Graph(exposed: "stem"),      // the conv's output is a graph output
            "mean first" => Graph(meanFirst: true),   // mean − x is not the normalization
            _ => Graph(binary: false),
        };
        var fused = GlueFusion.Apply(model).Model;
        Assert.DoesNotContain(fused.Graph.Node, StemFusion.IsFused);
        Assert.Contains(fused.Graph.Node, n => n.OpType == "HardSwish");
    }

    [Fact]
    public void Unfuse_gives_the_standard_nodes_back_and_they_fuse_again()
    {
        var fused = GlueFusion.Apply(Graph()).Model;
        var unfused = GlueFusion.Unfuse(fused);
        Assert.Equal(["Sub", "Div", "Conv", "InstanceNormalization", "HardSwish", "AveragePool", BinaryConvSchema.BinaryConv2d], unfused.Graph.Node.Select(n => n.OpType));
        var conv = unfused.Graph.Node.Single(n => n.OpType == "Conv");
        Assert.Equal([2L, 2L], conv.Attribute.Single(a => a.Name == "strides").Ints);
        Assert.Equal([1L, 1L, 1L, 1L], conv.Attribute.Single(a => a.Name == "pads").Ints);
        Assert.Equal(["src", "mean"], unfused.Graph.Node[0].Input);
        Assert.Equal("stem.act", unfused.Graph.Node.Single(n => n.OpType == "HardSwish").Output[0]);
        Assert.Equal(["stem.act"], unfused.Graph.Node.Single(n => n.OpType == "AveragePool").Input);
        Assert.Equal("stem.act.down2", unfused.Graph.Node.Single(n => n.OpType == "AveragePool").Output[0]);
        Assert.Equal(["stem.act", "stem.weight", "stem.bias", "conv3.tau"], Conv3(unfused).Input);
        var again = GlueFusion.Apply(unfused).Model;
        Assert.Equal(fused.Graph.Node.Select(n => n.ToString()), again.Graph.Node.Select(n => n.ToString()));
    }

    [Theory]
    [InlineData("last")]
    [InlineData("first")]
    public void A_pool_of_the_stems_input_becomes_its_xpooled(string where)
    {
        // The source pyramid's first level: the stem's fourth output, in MLAS's NCHW order for three planes (no row_order),
        // with the pool's ceil mode. The stem takes the place of whichever of the Sub and the pool comes first, so the
        // pool's readers (a Relu right after it, where it comes first) still follow it; the next level's pool, whose
        // channels are traced through the stem, becomes AveragePool2x as before, and moves up to right after the stem.
        var fused = GlueFusion.Apply(Graph(inputPool: where)).Model;
        var stem = Assert.Single(fused.Graph.Node, StemFusion.IsFused);
        Assert.Equal(["", "stem.act.packed", "stem.act.down2", "src.down2"], stem.Output);
        Assert.Equal(1, stem.Attribute.Single(a => a.Name == BinaryConvSchema.StemInputCeilMode).I);
        Assert.DoesNotContain(stem.Attribute, a => a.Name == BinaryConvSchema.StemInputRowOrder);
        Assert.DoesNotContain(fused.Graph.Node, n => n.OpType == "AveragePool");
        var next = Assert.Single(fused.Graph.Node, AveragePoolFusion.IsFused);
        Assert.Equal(["src.down2"], next.Input);
        var order = fused.Graph.Node.Select(n => n.OpType).ToList();
        // The next level comes right after the stem, while XPooled is in cache.
        Assert.Equal(where == "first" ? [BinaryConvSchema.Stem, BinaryConvSchema.AveragePool2x, "Relu", BinaryConvSchema.BinaryConv2d] : [BinaryConvSchema.Stem, BinaryConvSchema.AveragePool2x, BinaryConvSchema.BinaryConv2d], order);
        var unfused = GlueFusion.Unfuse(fused);
        var pool = Assert.Single(unfused.Graph.Node, n => n.OpType == "AveragePool" && n.Input[0] == "src");
        Assert.Equal(("src.down2", "src.down2"), (pool.Name, pool.Output[0]));
        Assert.Equal(1, pool.Attribute.Single(a => a.Name == "ceil_mode").I);
        var again = GlueFusion.Apply(unfused).Model;
        Assert.Equal(fused.Graph.Node.Select(n => n.ToString()), again.Graph.Node.Select(n => n.ToString()));
    }

    [Fact]
    public void A_stem_fused_without_xpooled_takes_its_inputs_pool_when_fused_again()
    {
        // A file fused by an earlier bivm: its stem has three outputs and the source pool is an AveragePool2x of its own,
        // where the decoder begins. Fusing it again (bivm export --fuse) gives the stem XPooled, and moves the next level
        // up, as fusing the standard nodes does.
        var fused = GlueFusion.Apply(Graph(inputPool: "last")).Model;
        var old = fused.Clone();
        var stem = old.Graph.Node.Single(StemFusion.IsFused);
        stem.Output.RemoveAt(BinaryConvSchema.StemXPooled);
        stem.Attribute.Remove(stem.Attribute.Single(a => a.Name == BinaryConvSchema.StemInputCeilMode));
        var pool = new NodeProto { Name = "src.down2", OpType = BinaryConvSchema.AveragePool2x, Domain = BinaryConvSchema.Domain, Input = { "src" }, Output = { "src.down2" } };
        pool.Attribute.Add(new AttributeProto { Name = BinaryConvSchema.PoolCeilMode, Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        var next = old.Graph.Node.Single(AveragePoolFusion.IsFused);
        old.Graph.Node.Remove(next);
        old.Graph.Node.Add(pool);
        old.Graph.Node.Add(next);
        Assert.Equal(0, StemFusion.InputPoolCount(old));
        var again = GlueFusion.Apply(old).Model;
        Assert.Equal(1, StemFusion.InputPoolCount(again));
        Assert.Equal(fused.Graph.Node.Select(n => n.ToString()), again.Graph.Node.Select(n => n.ToString()));
        Assert.Contains($"1 2×2 AveragePool of the stem's input taken by the {BinaryConvSchema.Stem}", again.MetadataProps.Single(m => m.Key == GlueFusion.MetadataKey).Value);
    }
}
