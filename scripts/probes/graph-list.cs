#:project ../../src/Benchmarking/BiVM.Benchmarking.csproj
#:property PublishAot=false
// Lists a model's main-graph nodes (op type, name, inputs, outputs) whose name contains FILTER: for reading a fused graph.
//   dotnet run -c Release scripts/probes/graph-list.cs -- models/bivm.onnx [FILTER]
using Onnx;
var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(args[0]));
string filter = args.Length > 1 ? args[1] : "";
int i = 0;
foreach (var n in model.Graph.Node)
{
    i++;
    if (!n.Name.Contains(filter) && !n.OpType.Contains(filter)) continue;
    Console.WriteLine($"{i,4} {n.Domain}:{n.OpType} {n.Name}\n      in: {string.Join(", ", n.Input)}\n      out: {string.Join(", ", n.Output)}");
}
Console.WriteLine($"{model.Graph.Node.Count} nodes");
