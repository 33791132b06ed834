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
    Console.WriteLine($"{i,4} {n.Domain}:{n.OpType} {n.Name}\n      in: {string.Join(", ", n.Input)}\n      out: {string.Join(", ", n.Output)}"
        + (n.Attribute.Count == 0 ? "" : $"\n      attributes: {string.Join(", ", n.Attribute.Select(a => $"{a.Name}={(a.Ints.Count > 0 ? string.Join(" ", a.Ints) : a.Floats.Count > 0 ? $"[{a.Floats.Count} floats]" : a.S.Length > 0 ? a.S.ToStringUtf8() : a.I.ToString())}"))}"));
}
Console.WriteLine($"{model.Graph.Node.Count} nodes");
