#:project ../../src/Benchmarking/BiVM.Benchmarking.csproj
#:property PublishAot=false
// Which pools ONNX Runtime runs in its blocked NCHWc layout, and where it puts reorders, in a model as bivm opens it
// (its highest optimization level): the pools it runs there sum in another order than its NCHW kernels, which an op of
// ours that stands for a pool has to follow (docs/model-contract.md, "AveragePool2x", "ChannelMean"). From the
// repository root:
//   dotnet run -c Release scripts/probes/nchwc-check.cs -- models/bivm.onnx [MORE.onnx …]
using Microsoft.ML.OnnxRuntime;
using Onnx;

foreach (var path in args)
{
    string optimized = Path.Combine(Path.GetTempPath(), $"nchwc-check-{Environment.ProcessId}-{Path.GetFileName(path)}");
    try
    {
        using (var options = BiVM.Estimators.Video.MattingSession.CreateSessionOptions(1))
        {
            options.OptimizedModelFilePath = optimized;
            using var session = new InferenceSession(path, options);
        }
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(optimized));
        foreach (var n in model.Graph.Node.Where(n => n.OpType.Contains("Pool") || n.OpType.Contains("Reorder")))
            Console.WriteLine($"{path}: {n.Domain}:{n.OpType} {n.Name} in {string.Join(", ", n.Input)}");
    }
    finally
    {
        File.Delete(optimized);
    }
}
