#:project ../../src/Benchmarking/BiVM.Benchmarking.csproj
#:property PublishAot=false
// Which nodes ONNX Runtime runs for a GlobalAveragePool at its highest level: input from a graph input, and from models/bivm.onnx.
using Microsoft.ML.OnnxRuntime;
using Onnx;
{
    var g = new BiVM.Graph.OnnxGraphBuilder("mean");
    g.Input("X", TensorProto.Types.DataType.Float, 1, 1024, 18, 32);
    g.Node("GlobalAveragePool", ["X"], ["Y"], "mean");
    g.Output("Y", TensorProto.Types.DataType.Float, 1, 1024, 1, 1);
    File.WriteAllBytes("/tmp/gap/gap.onnx", g.ToBytes());
    var h = new BiVM.Graph.OnnxGraphBuilder("sum-mean");
    h.Opset(BiVM.Contracts.BinaryConvSchema.Domain, BiVM.Contracts.BinaryConvSchema.OpsetVersion);
    h.Input("X", TensorProto.Types.DataType.Float, 1, 1024, 18, 32);
    h.Node(BiVM.Contracts.BinaryConvSchema.ShortcutSum, ["X", "X"], ["S"], "sum", BiVM.Contracts.BinaryConvSchema.Domain)
        .Attribute(BiVM.Contracts.BinaryConvSchema.ShortcutSumScales, [1f]).Attribute(BiVM.Contracts.BinaryConvSchema.ShortcutSumRepeats, [1L]);
    h.Node("GlobalAveragePool", ["S"], ["Y"], "mean");
    h.Output("Y", TensorProto.Types.DataType.Float, 1, 1024, 1, 1);
    File.WriteAllBytes("/tmp/gap/sum-gap.onnx", h.ToBytes());
}
foreach (var path in args)
{
    string outPath = Path.Combine(Path.GetTempPath(), "gap-opt-" + Path.GetFileName(path));
    using var options = BiVM.Estimators.Video.MattingSession.CreateSessionOptions(1);
    options.OptimizedModelFilePath = outPath;
    using (var s = new InferenceSession(path, options)) { }
    var m = ModelProto.Parser.ParseFrom(File.ReadAllBytes(outPath));
    foreach (var n in m.Graph.Node.Where(n => n.OpType.Contains("Pool") || n.OpType.Contains("Reorder")))
        Console.WriteLine($"{path}: {n.Domain}:{n.OpType} {n.Name} in {string.Join(",", n.Input)}");
    foreach (var v in m.Graph.ValueInfo.Where(v => v.Name is "backbone.blocks.5.add_b" or "backbone.blocks.5.tail.act1.shift_out" or "aspp.pool" or "decoder.decode4.cat"))
        Console.WriteLine($"{path}: value {v.Name}: {v.Type}");
    File.Delete(outPath);
}
