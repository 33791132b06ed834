using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph.Tests;

/// <summary>
/// <see cref="PipelineStages"/>: the shipped models cut into four stages that together hold every node once, read
/// only the main graph's inputs and earlier stages' outputs, and keep the state in the recurrent decoder; a graph whose
/// data would flow backwards across the cut, or that reads the state elsewhere, is refused naming the tensor.
/// </summary>
public sealed class PipelineStagesTests
{
    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "BiVM.Onnx.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("no BiVM.Onnx.sln above the test's folder");
    }

    [Theory]
    [InlineData("bivm.onnx")]
    [InlineData("rvm-react.onnx")]
    [InlineData("rvm.onnx")]
    public void A_shipped_model_cuts_into_four_stages_that_hold_every_node_once(string file)
    {
        byte[] bytes = File.ReadAllBytes(Path.Combine(RepositoryRoot(), "models", file));
        var main = ModelProto.Parser.ParseFrom(bytes).Graph;
        var cut = PipelineStages.CutTensors(bytes);
        Assert.NotEmpty(cut);
        var stages = PipelineStages.Split(bytes, cut.ToDictionary(t => t, _ => ((int)TensorProto.Types.DataType.Float, 4)));
        Assert.Equal(PipelineStages.Names, stages.Select(s => s.Name));

        var parts = stages.Select(s => ModelProto.Parser.ParseFrom(s.Model).Graph).ToList();
        Assert.Equal(main.Node.Count, parts.Sum(p => p.Node.Count));
        Assert.Equal(main.Node.Select(n => n.Name).Order(), parts.SelectMany(p => p.Node).Select(n => n.Name).Order());
        var available = main.Input.Select(i => i.Name).ToHashSet();
        for (int s = 0; s < stages.Count; s++)
        {
            Assert.All(stages[s].Inputs, t => Assert.True(available.Contains(t), $"{stages[s].Name} reads '{t}', which no earlier stage writes"));
            Assert.Equal(stages[s].Inputs, parts[s].Input.Select(i => i.Name));
            Assert.Equal(stages[s].Outputs, parts[s].Output.Select(o => o.Name));
            foreach (var t in stages[s].Outputs) available.Add(t);
            bool recurrent = s == PipelineStages.Recurrent;
            Assert.Equal(recurrent, MattingContract.StateInputs.All(stages[s].Inputs.Contains));
            Assert.Equal(recurrent, MattingContract.StateOutputs.All(stages[s].Outputs.Contains));
        }
        Assert.Contains(MattingContract.Foreground, stages[^1].Outputs);
        Assert.Contains(MattingContract.Alpha, stages[^1].Outputs);
        // What crosses the cut is exactly what CutTensors names (plus the main graph's own outputs).
        var crossing = stages.SelectMany(s => s.Outputs).Except(main.Output.Select(o => o.Name)).ToHashSet();
        Assert.Equal(cut.ToHashSet(), crossing);
    }

    /// <summary>A matting-contract graph with one node per stage, named as the exporter names them; <paramref name="edit"/> changes it.</summary>
    private static byte[] FourStages(Action<OnnxGraphBuilder>? edit = null)
    {
        var g = new OnnxGraphBuilder("four", 17);
        var f32 = TensorProto.Types.DataType.Float;
        g.Input(MattingContract.Source, f32, 1, 3, 4, 4);
        foreach (var r in MattingContract.StateInputs) g.Input(r, f32, 1, 1, 1, 1);
        g.Input(MattingContract.DownsampleRatio, f32, 1);
        g.Node("Relu", [MattingContract.Source], ["features"], "backbone.act");
        g.Node("Add", ["features", MattingContract.StateInputs[0]], ["hidden"], "decoder.decode1.add");
        for (int k = 0; k < 4; k++) g.Node("Identity", [MattingContract.StateInputs[k]], [MattingContract.StateOutputs[k]], $"{MattingContract.StateOutputs[k]}.out");
        g.Node("Neg", ["hidden"], ["decoded"], "decoder.decode0.neg");
        g.Node("Identity", ["decoded"], [MattingContract.Foreground], "fgr.clamp");
        g.Node("Identity", ["decoded"], [MattingContract.Alpha], "pha.clamp");
        edit?.Invoke(g);
        g.Output(MattingContract.Foreground, f32, 1, 3, 4, 4);
        g.Output(MattingContract.Alpha, f32, 1, 3, 4, 4);
        foreach (var r in MattingContract.StateOutputs) g.Output(r, f32, 1, 1, 1, 1);
        return g.ToBytes();
    }

    [Fact]
    public void A_graph_named_like_the_exporters_cuts_at_the_three_tensors_between_its_stages() =>
        Assert.Equal(["features", "hidden", "decoded"], PipelineStages.CutTensors(FourStages()));

    [Fact]
    public void Data_flowing_backwards_across_the_cut_is_refused_naming_the_tensor()
    {
        var model = FourStages(g => g.Node("Add", ["features", "decoded"], ["late"], "backbone.late"));
        var error = Assert.Throws<InvalidOperationException>(() => PipelineStages.CutTensors(model));
        Assert.Contains("'decoded' of the decode0 is read by 'backbone.late' of the encoder", error.Message);
    }

    [Fact]
    public void The_state_read_outside_the_recurrent_decoder_is_refused()
    {
        var model = FourStages(g => g.Node("Add", ["decoded", MattingContract.StateInputs[2]], ["mixed"], "refiner.mix"));
        var error = Assert.Throws<InvalidOperationException>(() => PipelineStages.CutTensors(model));
        Assert.Contains("the state input 'r3i' is read by 'refiner.mix', outside the recurrent decoder", error.Message);
    }
}
