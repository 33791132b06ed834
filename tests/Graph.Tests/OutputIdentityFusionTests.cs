using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph.Tests;

/// <summary>
/// OutputIdentityFusion (run by GlueFusion.Apply on graphs with ai.bivm ops): an Identity that only names a node's
/// output as a graph output goes, the node writes the graph output and its other readers read it; Identities whose
/// input is a graph input or itself a graph output stay. (Values: GlueFusionTests and the pipeline's tests run the
/// shipped models, whose state outputs this pass gives to their GruUpdate nodes.)
/// </summary>
public sealed class OutputIdentityFusionTests
{
    private const TensorProto.Types.DataType F32 = TensorProto.Types.DataType.Float;

    [Fact]
    public void The_producer_writes_the_graph_output_and_its_other_readers_read_it()
    {
        var g = new OnnxGraphBuilder("state");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", F32, 1, 2, 3, 3);
        g.Initializer(Tensors.Float("b", [0f, 0f], 2, 1, 1));
        g.Node(BinaryConvSchema.ShortcutRPReLU, ["X", "", "", "b", "b", "b"], ["s"], "glue", BinaryConvSchema.Domain);
        g.Node("Identity", ["s"], ["state_out"], "state_out.out");
        g.Node("Relu", ["s"], ["r"], "reader");
        g.Node("Identity", ["X"], ["x_out"], "x_out.out"); // a graph input: stays
        g.Node("Identity", ["r"], ["r_copy"], "r_copy.out"); // its input is a graph output too: stays
        g.Output("state_out", F32, 1, 2, 3, 3);
        g.Output("r", F32, 1, 2, 3, 3);
        g.Output("x_out", F32, 1, 2, 3, 3);
        g.Output("r_copy", F32, 1, 2, 3, 3);

        var fused = GlueFusion.Apply(ModelProto.Parser.ParseFrom(g.ToBytes())).Model;
        var nodes = fused.Graph.Node;
        Assert.DoesNotContain(nodes, n => n.Name == "state_out.out");
        Assert.Equal(["state_out"], nodes.Single(n => n.Name == "glue").Output);
        Assert.Equal(["state_out"], nodes.Single(n => n.Name == "reader").Input);
        Assert.Contains(nodes, n => n.Name == "x_out.out");
        Assert.Contains(nodes, n => n.Name == "r_copy.out");
        Assert.DoesNotContain(nodes, n => n.Input.Contains("s") || n.Output.Contains("s"));
    }
}
