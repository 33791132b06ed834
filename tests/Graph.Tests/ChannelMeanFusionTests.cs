using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph.Tests;

/// <summary>
/// ChannelMeanFusion (run by GlueFusion.Apply on graphs with ai.bivm ops): a GlobalAveragePool over one of our ops'
/// outputs becomes ChannelMean; one over a graph input or a standard op's output stays (ONNX Runtime may pool those in
/// its NCHWc layout, another order), as does every pool of a model without binary ops; Unfuse gives the pool back.
/// (Values: ChannelMeanTests against ONNX Runtime, GlueFusionTests on the shipped models.)
/// </summary>
public sealed class ChannelMeanFusionTests
{
    private const TensorProto.Types.DataType F32 = TensorProto.Types.DataType.Float;

    private static ModelProto Graph(bool binary)
    {
        var g = new OnnxGraphBuilder("means");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("x", F32, 1, 64, 18, 32);
        if (binary)
            g.Node(BinaryConvSchema.ShortcutSum, ["x", "x"], ["sum"], "sum", BinaryConvSchema.Domain)
                .Attribute(BinaryConvSchema.ShortcutSumScales, [1f]).Attribute(BinaryConvSchema.ShortcutSumRepeats, [1L]);
        else g.Node("Add", ["x", "x"], ["sum"], "sum");
        g.Node("GlobalAveragePool", ["sum"], ["ours"], "aspp.pool");   // over an op of ours: fused
        g.Node("GlobalAveragePool", ["x"], ["input"], "input.pool");   // over the graph input: stays
        g.Node("Relu", ["x"], ["relu"], "relu");
        g.Node("GlobalAveragePool", ["relu"], ["standard"], "se.pool"); // over a standard op: stays
        foreach (var output in new[] { "ours", "input", "standard" }) g.Output(output, F32, 1, 64, 1, 1);
        return ModelProto.Parser.ParseFrom(g.ToBytes());
    }

    [Fact]
    public void A_pool_over_one_of_our_ops_becomes_the_op_and_the_others_stay()
    {
        var fused = GlueFusion.Apply(Graph(binary: true)).Model;
        var means = fused.Graph.Node.Where(ChannelMeanFusion.IsFused).ToList();
        Assert.Equal(["aspp.pool"], means.Select(n => n.Name));
        Assert.Equal(["sum"], means[0].Input);
        Assert.Equal(["ours"], means[0].Output);
        Assert.Empty(means[0].Attribute);
        Assert.Equal(["input.pool", "se.pool"], fused.Graph.Node.Where(n => n.OpType == "GlobalAveragePool").Select(n => n.Name));
        Assert.Equal(1, ChannelMeanFusion.Count(fused));
        Assert.Contains("1 GlobalAveragePool as ChannelMean", fused.MetadataProps.Single(m => m.Key == GlueFusion.MetadataKey).Value);
        // Applying the pass again changes nothing.
        Assert.Equal(fused.Graph.Node.Select(n => (n.OpType, n.Domain, n.Name)), GlueFusion.Apply(fused).Model.Graph.Node.Select(n => (n.OpType, n.Domain, n.Name)));
    }

    [Fact]
    public void A_model_without_binary_ops_stays_standard_onnx()
    {
        var fused = GlueFusion.Apply(Graph(binary: false)).Model;
        Assert.DoesNotContain(fused.Graph.Node, ChannelMeanFusion.IsFused);
        Assert.Equal(3, fused.Graph.Node.Count(n => n.OpType == "GlobalAveragePool"));
    }

    [Fact]
    public void Unfuse_gives_the_global_average_pool_back()
    {
        var unfused = GlueFusion.Unfuse(GlueFusion.Apply(Graph(binary: true)).Model);
        Assert.DoesNotContain(unfused.Graph.Node, ChannelMeanFusion.IsFused);
        var pool = unfused.Graph.Node.Single(n => n.Name == "aspp.pool");
        Assert.Equal(("GlobalAveragePool", ""), (pool.OpType, pool.Domain));
        Assert.Equal(["sum"], pool.Input);
        Assert.Equal(["ours"], pool.Output);
        Assert.Empty(pool.Attribute);
    }
}
