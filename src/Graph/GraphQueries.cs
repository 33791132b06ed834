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

    /// <summary>The tensors the nodes of <paramref name="graph"/>'s sub-graphs (its If branches) read: outer names a pass must not rename or stop writing.</summary>
    public static HashSet<string> BranchReads(GraphProto graph) => Subgraphs(graph).SelectMany(g => g.Node).SelectMany(n => n.Input).ToHashSet();

    /// <summary>
    /// Removes <paramref name="graph"/>'s initializers named in <paramref name="candidates"/> that no input of
    /// <paramref name="nodes"/> or of the sub-graphs below them reads (If branches read outer tensors) and that are not
    /// graph inputs or outputs: ONNX Runtime warns about unused initializers on every session, and a fused file should
    /// not carry them.
    /// </summary>
    public static void RemoveUnreadInitializers(GraphProto graph, IEnumerable<NodeProto> nodes, IEnumerable<string> candidates)
    {
        var read = new HashSet<string>();
        void Read(IEnumerable<NodeProto> list)
        {
            foreach (var node in list)
            {
                read.UnionWith(node.Input);
                foreach (var attribute in node.Attribute)
                {
                    if (attribute.G is { } g) Read(g.Node);
                    foreach (var sub in attribute.Graphs) Read(sub.Node);
                }
            }
        }
        Read(nodes);
        var kept = graph.Input.Select(i => i.Name).Concat(graph.Output.Select(o => o.Name)).ToHashSet();
        var stale = candidates.Where(n => !read.Contains(n) && !kept.Contains(n)).ToHashSet();
        foreach (var unused in graph.Initializer.Where(t => stale.Contains(t.Name)).ToList()) graph.Initializer.Remove(unused);
    }

    /// <summary>
    /// <paramref name="nodes"/> in order with each node of <paramref name="replacements"/> replaced by its fused node and
    /// those of <paramref name="removed"/> left out (a fusion pass's last step: each fused node in the place of one of its chain).
    /// </summary>
    public static List<NodeProto> Rewritten(IEnumerable<NodeProto> nodes, IReadOnlyDictionary<NodeProto, NodeProto> replacements, ISet<NodeProto> removed)
    {
        var rewritten = new List<NodeProto>();
        foreach (var node in nodes)
        {
            if (replacements.TryGetValue(node, out var replacement)) rewritten.Add(replacement);
            else if (!removed.Contains(node)) rewritten.Add(node);
        }
        return rewritten;
    }

    /// <summary>How many inputs read each tensor, and the node that writes each (named) tensor, over <paramref name="nodes"/>.</summary>
    public static (Dictionary<string, int> Readers, Dictionary<string, NodeProto> Producers) ReadersAndProducers(IEnumerable<NodeProto> nodes)
    {
        var readers = new Dictionary<string, int>();
        var producers = new Dictionary<string, NodeProto>();
        foreach (var node in nodes)
        {
            foreach (var i in node.Input) readers[i] = readers.GetValueOrDefault(i) + 1;
            foreach (var o in node.Output)
                if (o.Length > 0) producers[o] = node;
        }
        return (readers, producers);
    }

    /// <summary>
    /// A copy of <paramref name="model"/> (its checksum dropped: the graph changes) in which every node
    /// <paramref name="isFolded"/> accepts, in every graph, has what <paramref name="unfold"/> writes (given the list of
    /// nodes so far, the node and its name) put before it: a fold written back as its nodes.
    /// </summary>
    public static ModelProto Unfolded(ModelProto model, Func<NodeProto, bool> isFolded, Action<List<NodeProto>, NodeProto, string> unfold)
    {
        var copy = WithoutChecksum(model);
        // A folded conv reads float tensors that a bits-only producer no longer writes: named again first (the sparse
        // hand-off's Restore runs UnreadFloatFusion's, which runs HiddenHandOffFusion's).
        YSplitFusion.Restore(copy); // a glue writing Y in two halves writes it whole again (and the Split after it)
        SparseHandOffFusion.Restore(copy);
        foreach (var graph in WithSubgraphs(copy.Graph).ToList())
        {
            var rewritten = new List<NodeProto>();
            foreach (var node in graph.Node)
            {
                if (isFolded(node)) unfold(rewritten, node, node.Name.Length > 0 ? node.Name : node.Output.First(o => o.Length > 0));
                rewritten.Add(node);
            }
            graph.Node.Clear();
            graph.Node.AddRange(rewritten);
        }
        return copy;
    }

    /// <summary>A node's input <paramref name="i"/>, or the empty name where the node has fewer inputs (an absent optional).</summary>
    public static string InputAt(NodeProto node, int i) => node.Input.Count > i ? node.Input[i] : "";

    /// <summary>Sets position <paramref name="i"/> of a node's inputs or outputs, padding with empty names (absent optionals) up to it.</summary>
    public static void SetAt(Google.Protobuf.Collections.RepeatedField<string> names, int i, string value)
    {
        while (names.Count <= i) names.Add("");
        names[i] = value;
    }

    /// <summary>Drops trailing empty names (absent optionals) from a node's inputs or outputs, keeping at least <paramref name="keep"/>.</summary>
    public static void TrimEmpty(Google.Protobuf.Collections.RepeatedField<string> names, int keep)
    {
        while (names.Count > keep && names[^1].Length == 0) names.RemoveAt(names.Count - 1);
    }

    /// <summary>
    /// A copy of <paramref name="model"/> without the integrity checksum (<see cref="BiVM.Contracts.ModelChecksum"/>): it
    /// described the graph before a rewrite, and loaders refuse a file whose checksum does not match. Writers stamp the
    /// new graph (<c>ExportedModel</c>).
    /// </summary>
    public static ModelProto WithoutChecksum(ModelProto model)
    {
        var copy = model.Clone();
        foreach (var stale in copy.MetadataProps.Where(m => m.Key == BiVM.Contracts.ModelChecksum.Key).ToList()) copy.MetadataProps.Remove(stale);
        return copy;
    }

    /// <summary>A node of the standard domain: <paramref name="opType"/> named <paramref name="name"/>, reading <paramref name="inputs"/>, writing <paramref name="output"/>.</summary>
    public static NodeProto StandardNode(string opType, string name, IEnumerable<string> inputs, string output)
    {
        var node = new NodeProto { OpType = opType, Name = name };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        return node;
    }

    public static long? Int(NodeProto node, string attribute) => node.Attribute.FirstOrDefault(a => a.Name == attribute) is { } a ? a.I : null;

    public static long[]? Ints(NodeProto node, string attribute) => node.Attribute.FirstOrDefault(a => a.Name == attribute)?.Ints.ToArray();

    public static string? Text(NodeProto node, string attribute) => node.Attribute.FirstOrDefault(a => a.Name == attribute)?.S.ToStringUtf8();
}
