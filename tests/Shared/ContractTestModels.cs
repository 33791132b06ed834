using BiVM.Contracts;
using BiVM.Graph;
using Onnx;

namespace BiVM.Tests.Shared;

/// <summary>
/// Small ONNX models with the matting contract's I/O, for testing the code that runs matting models
/// without a trained network. They compute something checkable:
/// pha = mean of the RGB channels (a luma key), fgr = src, and every r*o = r*i + 1, so after n frames
/// of one stream each state element equals n (the [1,1,1,1] first-frame zeros broadcast to shape [1,1,1,1]).
/// </summary>
public static class ContractTestModels
{
    private const TensorProto.Types.DataType F32 = TensorProto.Types.DataType.Float;

    public static byte[] LumaKeyWithCounter()
    {
        var g = new OnnxGraphBuilder("luma_key_counter", 17);
        g.Input(MattingContract.Source, F32, "B", 3, "H", "W");
        foreach (var r in MattingContract.StateInputs) g.Input(r, F32, "B", "C", "h", "w");
        g.Input(MattingContract.DownsampleRatio, F32, 1);
        string one = g.Initializer(Tensors.Float("one", [1f]));
        g.Node("Identity", [MattingContract.Source], [MattingContract.Foreground]);
        g.Node("ReduceMean", [MattingContract.Source], [MattingContract.Alpha]).Attribute("axes", new long[] { 1 }).Attribute("keepdims", 1L);
        for (int k = 0; k < 4; k++) g.Node("Add", [MattingContract.StateInputs[k], one], [MattingContract.StateOutputs[k]]);
        g.Output(MattingContract.Foreground, F32, "B", 3, "H", "W");
        g.Output(MattingContract.Alpha, F32, "B", 1, "H", "W");
        foreach (var r in MattingContract.StateOutputs) g.Output(r, F32, "B", "C", "h", "w");
        g.Metadata("model_family", "test-luma-key");
        return g.ToBytes();
    }

    /// <summary>
    /// pha = the number of frames this stream has seen before the current one (read from r1i, which
    /// counts frames as in <see cref="LumaKeyWithCounter"/>), fgr = src: makes the carried state visible.
    /// </summary>
    public static byte[] FrameCounter()
    {
        var g = new OnnxGraphBuilder("frame_counter", 17);
        g.Input(MattingContract.Source, F32, "B", 3, "H", "W");
        foreach (var r in MattingContract.StateInputs) g.Input(r, F32, "B", "C", "h", "w");
        g.Input(MattingContract.DownsampleRatio, F32, 1);
        string one = g.Initializer(Tensors.Float("one", [1f]));
        string zero = g.Initializer(Tensors.Float("zero", [0f]));
        g.Node("Identity", [MattingContract.Source], [MattingContract.Foreground]);
        g.Node("ReduceMean", [MattingContract.Source], ["luma"]).Attribute("axes", new long[] { 1 }).Attribute("keepdims", 1L);
        g.Node("Mul", ["luma", zero], ["zeros"]);
        g.Node("ReduceMax", [MattingContract.StateInputs[0]], ["count"]).Attribute("keepdims", 0L);
        g.Node("Add", ["zeros", "count"], [MattingContract.Alpha]);
        for (int k = 0; k < 4; k++) g.Node("Add", [MattingContract.StateInputs[k], one], [MattingContract.StateOutputs[k]]);
        g.Output(MattingContract.Foreground, F32, "B", 3, "H", "W");
        g.Output(MattingContract.Alpha, F32, "B", 1, "H", "W");
        foreach (var r in MattingContract.StateOutputs) g.Output(r, F32, "B", "C", "h", "w");
        return g.ToBytes();
    }

    /// <summary>A valid ONNX model that is not a matting model (one input 'x', one output 'y').</summary>
    public static byte[] NotAMattingModel()
    {
        var g = new OnnxGraphBuilder("identity", 17);
        g.Input("x", F32, 1, 3);
        g.Node("Identity", ["x"], ["y"]);
        g.Output("y", F32, 1, 3);
        return g.ToBytes();
    }

    public static string WriteTemp(byte[] model, string name)
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory("bivm-model-").FullName, name);
        File.WriteAllBytes(path, model);
        return path;
    }
}
