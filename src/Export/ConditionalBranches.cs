using Onnx;

namespace BiVM.Export;

/// <summary>
/// Turns nodes that were written into the main graph into the two branches of an <c>If</c> node. The exporter
/// writes both branches through the same checked builder (every input defined, every name unique across the
/// whole model, so no branch shadows an outer name), then moves the nodes here. Branch nodes read outer-scope
/// values and initializers directly, which ONNX allows for subgraphs.
/// </summary>
internal static class ConditionalBranches
{
    public static void Attach(ModelProto model, string ifNode, IReadOnlyList<string> thenNodes, IReadOnlyList<string> thenOutputs,
        IReadOnlyList<string> elseNodes, IReadOnlyList<string> elseOutputs)
    {
        var graph = model.Graph;
        var node = graph.Node.Single(n => n.Name == ifNode);
        node.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = Branch(graph, ifNode + ".then", thenNodes, thenOutputs) });
        node.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = Branch(graph, ifNode + ".else", elseNodes, elseOutputs) });
    }

    private static GraphProto Branch(GraphProto main, string name, IReadOnlyList<string> nodeNames, IReadOnlyList<string> outputs)
    {
        const string marker = "." + ExportGraph.LoweredPrefixMarker;
        var exact = nodeNames.Where(n => !n.EndsWith(marker, StringComparison.Ordinal)).ToHashSet();
        var prefixes = nodeNames.Where(n => n.EndsWith(marker, StringComparison.Ordinal)).Select(n => n[..^1]).ToArray();
        var moved = main.Node.Where(n => exact.Contains(n.Name) || prefixes.Any(p => n.Name.StartsWith(p, StringComparison.Ordinal))).ToList();
        int found = moved.Count(n => exact.Contains(n.Name));
        if (found != exact.Count) throw new InvalidOperationException($"{name}: {exact.Count - found} branch nodes not found in the graph");
        foreach (var n in moved) main.Node.Remove(n);
        var branch = new GraphProto { Name = name };
        branch.Node.AddRange(moved);
        foreach (var output in outputs)
            branch.Output.Add(new ValueInfoProto
            {
                Name = output,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });
        return branch;
    }
}
