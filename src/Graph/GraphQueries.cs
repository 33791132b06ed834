using Onnx;

namespace BiVM.Graph;

/// <summary>What the fusion passes read off a graph: its sub-graphs (If branches, at any depth) and a node's attributes.</summary>
internal static class GraphQueries
{
    /// <summary>Every graph held by a node's attributes, depth first (not <paramref name="graph"/> itself).</summary>
    public static IEnumerable<GraphProto> Subgraphs(GraphProto graph)
    {
        foreach (var node in graph.Node)
            foreach (var attribute in node.Attribute)
            {
                var subs = attribute.G is { } g ? [g] : attribute.Graphs.ToList();
                foreach (var sub in subs)
                {
                    yield return sub;
                    foreach (var inner in Subgraphs(sub)) yield return inner;
                }
            }
    }

    /// <summary><paramref name="graph"/> and every graph inside it.</summary>
    public static IEnumerable<GraphProto> WithSubgraphs(GraphProto graph) => Subgraphs(graph).Prepend(graph);

    public static long? Int(NodeProto node, string attribute) => node.Attribute.FirstOrDefault(a => a.Name == attribute) is { } a ? a.I : null;

    public static long[]? Ints(NodeProto node, string attribute) => node.Attribute.FirstOrDefault(a => a.Name == attribute)?.Ints.ToArray();

    public static string? Text(NodeProto node, string attribute) => node.Attribute.FirstOrDefault(a => a.Name == attribute)?.S.ToStringUtf8();
}
