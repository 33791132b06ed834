using BiVM.Contracts;
using BiVM.Tests.Shared;
using Onnx;

namespace BiVM.Graph.Tests;

/// <summary>
/// IncoherenceFusion (run by GlueFusion.Apply on graphs with ai.bivm ops): the front of SHB's incoherent mask as the
/// exporter writes it (×2 Resize, crop to F, |F − ·|, the channel mean, the signs' count, their Reshapes) becomes one
/// Incoherence; a chain with an intermediate read elsewhere stays, a model without binary ops stays standard ONNX, and
/// Unfuse writes the standard nodes back, which fuse again. (Values: IncoherenceTests against ONNX Runtime.)
/// </summary>
public sealed class IncoherenceFusionTests
{
    private const TensorProto.Types.DataType F32 = TensorProto.Types.DataType.Float;

    /// <summary>The exporter's chain (<see cref="IncoherentMaskFront"/>) on F [1, 8, 6, 10] and S [1, 8, 3, 5].</summary>
    internal static ModelProto Chain(bool binary, bool absRead = false)
    {
        var g = new OnnxGraphBuilder("mask");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("F", F32, 1, 8, 6, 10);
        g.Input("S", F32, 1, 8, 3, 5);
        IncoherentMaskFront.Add(g, "F", "S", "D", "P");
        if (binary) g.Node(BinaryConvSchema.BinaryConv2d, ["D", "zero", "zero", "zero"], ["marker"], "marker", BinaryConvSchema.Domain);
        g.Output("D", F32, 1, 60);
        g.Output("P", F32, 1, 1, 60);
        if (absRead) g.Output("abs", F32, 1, 8, 6, 10);
        return ModelProto.Parser.ParseFrom(g.ToBytes());
    }

    [Fact]
    public void The_chain_becomes_one_incoherence_node()
    {
        var fused = GlueFusion.Apply(Chain(binary: true)).Model;
        var node = fused.Graph.Node.Single(IncoherenceFusion.IsFused);
        Assert.Equal("mask.incoherence.fused", node.Name);
        Assert.Equal(["F", "S"], node.Input);
        Assert.Equal(["D", "P"], node.Output);
        Assert.DoesNotContain(fused.Graph.Node, n => n.OpType is "Resize" or "Slice" or "Shape" or "Sub" or "Abs" or "ReduceMean" or "ReduceSum" or "Reshape" or "GreaterOrEqual" or "Cast");
        Assert.DoesNotContain(fused.Graph.Initializer, t => t.Name is "scales_x2" or "n_flat" or "axis1");
        Assert.Contains($"1 incoherent mask's front (×2 resampling, |F − smooth|, the channel mean, the signs' count) as {BinaryConvSchema.Incoherence}",
            fused.MetadataProps.Single(m => m.Key == GlueFusion.MetadataKey).Value);
    }

    [Fact]
    public void A_chain_whose_intermediate_is_read_elsewhere_stays()
    {
        Assert.DoesNotContain(GlueFusion.Apply(Chain(binary: true, absRead: true)).Model.Graph.Node, IncoherenceFusion.IsFused);
    }

    [Fact]
    public void A_model_without_binary_ops_stays_standard_onnx()
    {
        Assert.DoesNotContain(GlueFusion.Apply(Chain(binary: false)).Model.Graph.Node, IncoherenceFusion.IsFused);
    }

    [Fact]
    public void Unfuse_writes_the_standard_nodes_back_and_they_fuse_again()
    {
        var unfused = GlueFusion.Unfuse(GlueFusion.Apply(Chain(binary: true)).Model);
        Assert.DoesNotContain(unfused.Graph.Node, IncoherenceFusion.IsFused);
        var mean = unfused.Graph.Node.Single(n => n.OpType == "ReduceMean");
        Assert.Equal("mask.incoherence", mean.Name);
        Assert.Equal([1L], mean.Attribute.Single(a => a.Name == "axes").Ints);
        Assert.Equal(["D"], unfused.Graph.Node.Single(n => n.Name == "mask.incoherence.flat").Output);
        Assert.Equal(["P"], unfused.Graph.Node.Single(n => n.Name == "mask.incoherence.positives_flat").Output);
        Assert.Equal(1, IncoherenceFusion.Count(GlueFusion.Apply(unfused).Model));
    }
}
