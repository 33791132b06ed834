using Onnx;

namespace BiVM.Graph;

/// <summary>
/// A pass of <see cref="GlueFusion"/>, after <see cref="YSplitFusion"/>: an <c>Identity</c> that only gives a tensor a
/// graph output's name goes, and the node that makes the tensor writes the graph output itself. ONNX Runtime copies
/// for such an Identity (a graph output cannot share an internal buffer): the exporter names the ConvGRUs' new states
/// r1o … r4o that way, and decode1's is 2.4 MB a 512×288 frame. The same values under the same output names.
/// </summary>
/// <remarks>
/// Only where the Identity's input is written by a node of the same graph, is not itself a graph input or output,
/// and is read in no If branch (whose outer-scope names would have to change too). Its other readers read the graph
/// output instead. Nothing to undo: the graph without the Identity is standard ONNX as it was.
/// </remarks>
public static class OutputIdentityFusion
{
    /// <summary>Rewrites <paramref name="nodes"/> (a graph's, in place); returns how many Identity nodes went.</summary>
    internal static int Apply(List<NodeProto> nodes, GraphProto graph, ISet<string> graphOutputs)
    {
        var branchReads = GraphQueries.BranchReads(graph);
        var graphInputs = graph.Input.Select(i => i.Name).ToHashSet();
        var (_, producers) = GraphQueries.ReadersAndProducers(nodes);
        var removed = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        foreach (var identity in nodes.Where(n => n is { OpType: "Identity", Domain: "" } && n.Input.Count == 1 && n.Output.Count == 1).ToList())
        {
            string x = identity.Input[0], y = identity.Output[0];
            if (!graphOutputs.Contains(y) || graphOutputs.Contains(x) || graphInputs.Contains(x) || branchReads.Contains(x)) continue;
            if (!producers.TryGetValue(x, out var producer) || removed.Contains(producer)) continue;
            for (int i = 0; i < producer.Output.Count; i++)
                if (producer.Output[i] == x) producer.Output[i] = y;
            foreach (var reader in nodes.Where(n => n != identity))
                for (int i = 0; i < reader.Input.Count; i++)
                    if (reader.Input[i] == x) reader.Input[i] = y;
            producers[y] = producer;
            removed.Add(identity);
        }
        nodes.RemoveAll(removed.Contains);
        return removed.Count;
    }
}
