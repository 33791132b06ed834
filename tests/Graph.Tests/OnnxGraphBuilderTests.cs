using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

namespace BiVM.Graph.Tests;

/// <summary>The graph builder the tests, benchmarks and exporter share (src/Graph).</summary>
public class OnnxGraphBuilderTests
{
    [Fact]
    public void Built_model_has_opsets_metadata_symbolic_dims_and_runs()
    {
        var g = new OnnxGraphBuilder("g").Opset("ai.bivm", 1).Metadata("family", "bivm");
        g.Input("x", TensorProto.Types.DataType.Float, "N", 3);
        var two = g.Initializer(Tensors.Float("two", [2f]));
        g.Node("Mul", ["x", two], ["y"]);
        g.Output("y", TensorProto.Types.DataType.Float, "N", 3);
        var model = ModelProto.Parser.ParseFrom(g.ToBytes());
        Assert.Contains(model.OpsetImport, o => o.Domain == "" && o.Version == 17);
        Assert.Contains(model.OpsetImport, o => o.Domain == "ai.bivm" && o.Version == 1);
        Assert.Equal("bivm", model.MetadataProps.Single(m => m.Key == "family").Value);
        Assert.Equal("N", model.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimParam);
        Assert.Equal(3, model.Graph.Output[0].Type.TensorType.Shape.Dim[1].DimValue);

        using var session = new InferenceSession(g.ToBytes());
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, [2, 3]))]);
        Assert.Equal(new[] { 2f, 4f, 6f, 8f, 10f, 12f }, results.First().AsTensor<float>().ToArray());
        Assert.Equal("bivm", session.ModelMetadata.CustomMetadataMap["family"]);
    }

    [Fact]
    public void Undefined_inputs_duplicate_names_and_missing_opsets_are_refused()
    {
        var g = new OnnxGraphBuilder("g");
        g.Input("x", TensorProto.Types.DataType.Float, 1);
        Assert.Contains("'nope' is not defined", Assert.Throws<ArgumentException>(() => g.Node("Relu", ["nope"], ["y"])).Message);
        Assert.Contains("already defined", Assert.Throws<ArgumentException>(() => g.Input("x", TensorProto.Types.DataType.Float, 1)).Message);
        Assert.Contains("no opset import", Assert.Throws<ArgumentException>(() => g.Node("BinaryConv2d", ["x"], ["z"], domain: "ai.bivm")).Message);
        Assert.Contains("not produced", Assert.Throws<ArgumentException>(() => g.Output("w", TensorProto.Types.DataType.Float, 1)).Message);
        Assert.Contains("holds 4", Assert.Throws<ArgumentException>(() => Tensors.Float("t", [1f, 2f], 2, 2)).Message);
        var node = g.Node("Relu", ["x"], ["r"]).Attribute("alpha", 1f);
        Assert.Throws<ArgumentException>(() => node.Attribute("alpha", 2f));
    }
}

/// <summary>Sub-graphs (If branches) are written in place, under the same name checks as the main graph.</summary>
public class SubgraphTests
{
    [Fact]
    public void If_branches_read_outer_values_and_run()
    {
        var g = new OnnxGraphBuilder("g");
        g.Input("x", TensorProto.Types.DataType.Float, 2);
        g.Input("c", TensorProto.Types.DataType.Bool, 1);
        var two = g.Initializer(Tensors.Float("two", [2f], 1));
        var doubled = g.Subgraph("g.then", () => [g.Node("Mul", ["x", two], ["x2"], "mul").Proto.Output[0]]);
        var negated = g.Subgraph("g.else", () => [g.Node("Neg", ["x"], ["xn"], "neg").Proto.Output[0]]);
        g.Node("If", ["c"], ["y"], "choose").Attribute("then_branch", doubled).Attribute("else_branch", negated);
        g.Output("y", TensorProto.Types.DataType.Float, 2);

        var model = ModelProto.Parser.ParseFrom(g.ToBytes());
        Assert.Equal(["c"], model.Graph.Node.Single().Input);   // the branch nodes are not in the main graph
        using var session = new InferenceSession(g.ToBytes());
        float[] Run(bool c)
        {
            using var results = session.Run([
                NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(new[] { 1f, -3f }, [2])),
                NamedOnnxValue.CreateFromTensor("c", new DenseTensor<bool>(new[] { c }, [1]))]);
            return results.First().AsTensor<float>().ToArray();
        }
        Assert.Equal(new[] { 2f, -6f }, Run(true));
        Assert.Equal(new[] { -1f, 3f }, Run(false));
    }

    [Fact]
    public void A_value_of_a_closed_subgraph_cannot_be_read_nor_its_name_reused()
    {
        var g = new OnnxGraphBuilder("g");
        g.Input("x", TensorProto.Types.DataType.Float, 1);
        g.Subgraph("branch", () => [g.Node("Relu", ["x"], ["inner"]).Proto.Output[0]]);
        Assert.Contains("belongs to a sub-graph", Assert.Throws<ArgumentException>(() => g.Node("Neg", ["inner"], ["y"])).Message);
        Assert.Contains("already defined", Assert.Throws<ArgumentException>(() => g.Node("Neg", ["x"], ["inner"])).Message);
    }
}
