using BiVM.Contracts;
using Google.Protobuf;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// Fuses the EBB's channel-changing and multi-level shortcuts (the exporter's <c>map_l1</c>, <c>map_c1</c>,
/// <c>map_c2</c>, <c>map_b</c> and <c>add_*</c> nodes), which GlueFusion's chains leave as small standard ops between
/// the fused glue nodes:
/// <list type="bullet">
/// <item>a ShortcutRPReLU's Addend made by <c>Tile(z, [1, r, 1, 1])</c> becomes z with attribute <c>addend_repeat</c> r;
/// one made by <c>Reshape(ReduceSum(Reshape(z, [0, 2, C, −1]), axes [1], keepdims 0), [N, C, H, W])</c> (the pair sum
/// that halves the channels) becomes z with <c>addend_chunks</c> 2, and the Shape/Slice/Concat that only computed
/// the second Reshape's shape go too (likewise <c>Add(Slice(z, 0..C), Slice(z, C..2C))</c> on channels, the form
/// <see cref="UnmapAddend"/> writes back);</item>
/// <item>a chain <c>Add(…Add(x, t₁)…, tₖ)</c> whose terms are <c>Mul(z, γ)</c>, <c>Tile(Mul(z, γ), [1, r, 1, 1])</c>
/// or <c>Tile(z, [1, r, 1, 1])</c> (γ a one-value initializer) becomes one <c>ai.bivm:ShortcutSum(x, z₁, …, zₖ)</c>
/// with <c>scales</c> and <c>repeats</c>, under the last Add's output name.</item>
/// </list>
/// Every fused operation is exact in float32 (a Tile copies; the pair sum is one add, as ReduceSum over a size-2
/// axis; the products and sums are rounded in the graph's order), so the rewritten model gives bit-identical values.
/// Only tensors with one consumer that are not graph outputs disappear; applying the pass again changes nothing.
/// </summary>
internal static class ShortcutSumFusion
{
    /// <summary>Rewrites <paramref name="nodes"/> (a topologically sorted node list) in place; returns the nodes removed.</summary>
    public static int Apply(List<NodeProto> nodes, GraphProto graph, Dictionary<string, TensorProto> initializers)
    {
        var outputs = graph.Output.Select(o => o.Name).ToHashSet();
        var producers = new Dictionary<string, NodeProto>();
        var consumers = new Dictionary<string, int>();
        foreach (var node in nodes)
        {
            foreach (var o in node.Output) producers[o] = node;
            foreach (var i in node.Input) if (i.Length > 0) consumers[i] = consumers.GetValueOrDefault(i) + 1;
        }
        var removed = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        bool Private(string tensor) => consumers.GetValueOrDefault(tensor) == 1 && !outputs.Contains(tensor);
        NodeProto? Producer(string tensor, string opType) =>
            Private(tensor) && producers.TryGetValue(tensor, out var n) && n.OpType == opType && n.Domain.Length == 0 && !removed.Contains(n) ? n : null;
        long[]? Ints(string name) => initializers.TryGetValue(name, out var t) ? Tensors.Int64Values(t) : null;
        // Tile(z, [1, r, 1, 1]) → r, else 0.
        long TileRepeat(NodeProto tile) => tile.Input.Count == 2 && Ints(tile.Input[1]) is [1, var r, 1, 1] && r >= 1 ? r : 0;

        // 1. ShortcutRPReLU addends: Tile, or the pair sum.
        foreach (var glue in nodes.Where(n => n.OpType == BinaryConvSchema.ShortcutRPReLU && n.Domain == BinaryConvSchema.Domain))
        {
            if (glue.Input.Count <= BinaryConvSchema.ActivationAddend || glue.Input[BinaryConvSchema.ActivationAddend].Length == 0) continue;
            if (glue.Attribute.Any(a => a.Name is BinaryConvSchema.ActivationAddendRepeat or BinaryConvSchema.ActivationAddendChunks)) continue;
            if (!initializers.TryGetValue(glue.Input[BinaryConvSchema.ActivationShiftIn], out var shift)) continue;
            long channels = GlueFusion.Channels(shift);
            string addend = glue.Input[BinaryConvSchema.ActivationAddend];
            if (Producer(addend, "Tile") is { } tile && TileRepeat(tile) is > 1 and var r && channels % r == 0)
            {
                glue.Input[BinaryConvSchema.ActivationAddend] = tile.Input[0];
                glue.Attribute.Add(new AttributeProto { Name = BinaryConvSchema.ActivationAddendRepeat, Type = AttributeProto.Types.AttributeType.Int, I = r });
                removed.Add(tile);
            }
            else if (Producer(addend, "Add") is { Input.Count: 2 } pairAdd && Producer(pairAdd.Input[0], "Slice") is { } low && Producer(pairAdd.Input[1], "Slice") is { } high
                && low.Input[0] == high.Input[0] && IsChannelSlice(low, 0, channels) && IsChannelSlice(high, channels, 2 * channels))
            {
                // The form Unfuse writes: the two halves sliced and added.
                glue.Input[BinaryConvSchema.ActivationAddend] = low.Input[0];
                glue.Attribute.Add(new AttributeProto { Name = BinaryConvSchema.ActivationAddendChunks, Type = AttributeProto.Types.AttributeType.Int, I = 2 });
                removed.UnionWith([pairAdd, low, high]);
            }
            else if (Producer(addend, "Reshape") is { } unflatten && Producer(unflatten.Input[0], "ReduceSum") is { } sum
                && Producer(sum.Input[0], "Reshape") is { } chunks && Ints(chunks.Input[1]) is [0, 2, var c, -1] && c == channels
                && sum.Input.Count == 2 && Ints(sum.Input[1]) is [1] && sum.Attribute.FirstOrDefault(a => a.Name == "keepdims") is { I: 0 })
            {
                glue.Input[BinaryConvSchema.ActivationAddend] = chunks.Input[0];
                glue.Attribute.Add(new AttributeProto { Name = BinaryConvSchema.ActivationAddendChunks, Type = AttributeProto.Types.AttributeType.Int, I = 2 });
                removed.UnionWith([unflatten, sum, chunks]);
                RemoveDeadShapeNodes(unflatten.Input[1]);
            }
        }

        // Slice(z, starts [from], ends [to], axes [1]) with no steps.
        bool IsChannelSlice(NodeProto slice, long from, long to) =>
            slice.Input.Count == 4 && Ints(slice.Input[1]) is [var a] && a == from && Ints(slice.Input[2]) is [var b] && b == to && Ints(slice.Input[3]) is [1];

        // The Shape → Slice → Concat that computed a removed Reshape's target shape, where nothing else reads them.
        void RemoveDeadShapeNodes(string tensor)
        {
            consumers[tensor] = consumers.GetValueOrDefault(tensor) - 1;
            if (consumers[tensor] > 0 || outputs.Contains(tensor) || !producers.TryGetValue(tensor, out var n) || removed.Contains(n)) return;
            if (n.OpType is not ("Shape" or "Slice" or "Concat" or "Unsqueeze" or "Gather") || n.Domain.Length > 0 || n.Output.Count != 1) return;
            removed.Add(n);
            foreach (var i in n.Input) if (i.Length > 0 && !initializers.ContainsKey(i)) RemoveDeadShapeNodes(i);
        }

        // 2. Add chains with scaled / repeated terms. A term: (z, γ or "", repeat, the nodes it removes).
        (string Z, string Scale, long Repeat, NodeProto[] Nodes)? Term(string tensor)
        {
            if (ScalarMul(tensor) is { } mul) return (Operand(mul), Gamma(mul), 1, [mul]);
            if (Producer(tensor, "Tile") is { } tile && TileRepeat(tile) is > 0 and var r)
                return ScalarMul(tile.Input[0]) is { } tiled ? (Operand(tiled), Gamma(tiled), r, [tile, tiled]) : (tile.Input[0], "", r, [tile]);
            return null;
        }
        NodeProto? ScalarMul(string tensor) => Producer(tensor, "Mul") is { Input.Count: 2 } mul
            && (IsScalar(mul.Input[1]) && !initializers.ContainsKey(mul.Input[0]) || IsScalar(mul.Input[0]) && !initializers.ContainsKey(mul.Input[1])) ? mul : null;
        bool IsScalar(string name) => initializers.TryGetValue(name, out var t) && Tensors.IsFloatScalar(t);
        string Gamma(NodeProto mul) => IsScalar(mul.Input[1]) ? mul.Input[1] : mul.Input[0];
        string Operand(NodeProto mul) => IsScalar(mul.Input[1]) ? mul.Input[0] : mul.Input[1];

        var chains = new Dictionary<string, Chain>(); // by the output of its last Add
        foreach (var add in nodes.Where(n => n.OpType == "Add" && n.Domain.Length == 0 && n.Input.Count == 2 && !removed.Contains(n)).ToList())
        {
            if (initializers.ContainsKey(add.Input[0]) || initializers.ContainsKey(add.Input[1])) continue;
            int termAt = Term(add.Input[1]) is not null ? 1 : Term(add.Input[0]) is not null ? 0 : -1;
            if (termAt < 0) continue;
            var term = Term(add.Input[termAt])!.Value;
            string x = add.Input[1 - termAt];
            var chain = Private(x) && chains.Remove(x, out var before) ? before : new Chain(x);
            chain.Terms.Add((term.Z, term.Scale, term.Repeat));
            chain.Nodes.AddRange(term.Nodes);
            chain.Nodes.Add(add);
            foreach (var n in term.Nodes) removed.Add(n);
            removed.Add(add);
            chains[add.Output[0]] = chain;
        }
        var fusedAt = new Dictionary<NodeProto, NodeProto>(ReferenceEqualityComparer.Instance);
        foreach (var (output, chain) in chains)
        {
            var last = chain.Nodes[^1];
            var node = new NodeProto { OpType = BinaryConvSchema.ShortcutSum, Domain = BinaryConvSchema.Domain, Name = (last.Name.Length > 0 ? last.Name : output) + ".fused" };
            node.Input.Add(chain.X);
            node.Input.AddRange(chain.Terms.Select(t => t.Z));
            node.Output.Add(output);
            var scales = new AttributeProto { Name = BinaryConvSchema.ShortcutSumScales, Type = AttributeProto.Types.AttributeType.Floats };
            scales.Floats.AddRange(chain.Terms.Select(t => t.Scale.Length == 0 ? 1f : Tensors.FloatValues(initializers[t.Scale])![0]));
            var repeats = new AttributeProto { Name = BinaryConvSchema.ShortcutSumRepeats, Type = AttributeProto.Types.AttributeType.Ints };
            repeats.Ints.AddRange(chain.Terms.Select(t => t.Repeat));
            node.Attribute.Add(scales);
            node.Attribute.Add(repeats);
            fusedAt[last] = node; // the last Add comes after every input of the chain
        }
        if (removed.Count == 0) return 0;
        var rewritten = new List<NodeProto>(nodes.Count);
        foreach (var n in nodes)
            if (fusedAt.TryGetValue(n, out var fused)) rewritten.Add(fused);
            else if (!removed.Contains(n)) rewritten.Add(n);
        int count = nodes.Count - rewritten.Count;
        nodes.Clear();
        nodes.AddRange(rewritten);
        return count;
    }

    private sealed class Chain(string x)
    {
        public string X { get; } = x;
        public List<(string Z, string Scale, long Repeat)> Terms { get; } = [];
        public List<NodeProto> Nodes { get; } = [];
    }

    /// <summary>
    /// Standard ops for ShortcutRPReLU's addend channel map (<see cref="GlueFusion.Unfuse"/>): Tile for addend_repeat,
    /// the two halves sliced and added for addend_chunks 2. Returns the tensor to use as the plain addend.
    /// </summary>
    public static string UnmapAddend(List<NodeProto> nodes, GraphProto graph, NodeProto glue, string name, string addend)
    {
        long repeat = glue.Attribute.FirstOrDefault(a => a.Name == BinaryConvSchema.ActivationAddendRepeat)?.I ?? 1;
        long chunks = glue.Attribute.FirstOrDefault(a => a.Name == BinaryConvSchema.ActivationAddendChunks)?.I ?? 1;
        if (repeat > 1) return Tile(nodes, graph, name + ".addend", addend, repeat);
        if (chunks != 2) return addend;
        // C: ShortcutRPReLU's channel count, from its ShiftIn.
        var shift = graph.Initializer.First(t => t.Name == glue.Input[BinaryConvSchema.ActivationShiftIn]);
        long c = GlueFusion.Channels(shift);
        string low = Slice(nodes, graph, name + ".addend_low", addend, 0, c);
        string high = Slice(nodes, graph, name + ".addend_high", addend, c, 2 * c);
        return Node(nodes, "Add", name + ".addend_pairs", [low, high]);
    }

    /// <summary>Standard ops for a ShortcutSum node: for each term Mul by its scale, Tile by its repeat, then Add, in order.</summary>
    public static void Unfuse(List<NodeProto> nodes, GraphProto graph, NodeProto sum)
    {
        string name = sum.Name.Length > 0 ? sum.Name : sum.Output[0];
        var scales = sum.Attribute.First(a => a.Name == BinaryConvSchema.ShortcutSumScales).Floats;
        var repeats = sum.Attribute.First(a => a.Name == BinaryConvSchema.ShortcutSumRepeats).Ints;
        string acc = sum.Input[0];
        for (int t = 1; t < sum.Input.Count; t++)
        {
            string term = sum.Input[t];
            string scale = Unique(graph, $"{name}.scale{t}");
            graph.Initializer.Add(Tensors.Float(scale, [scales[t - 1]], 1));
            term = Node(nodes, "Mul", $"{name}.mul{t}", [term, scale]);
            if (repeats[t - 1] > 1) term = Tile(nodes, graph, $"{name}.term{t}", term, repeats[t - 1]);
            acc = Node(nodes, "Add", $"{name}.add{t}", [acc, term], t == sum.Input.Count - 1 ? sum.Output[0] : null);
        }
    }

    private static string Tile(List<NodeProto> nodes, GraphProto graph, string name, string input, long repeat)
    {
        string repeats = Unique(graph, name + ".repeats");
        graph.Initializer.Add(Tensors.Int64(repeats, [1, repeat, 1, 1], 4));
        return Node(nodes, "Tile", name + ".tile", [input, repeats]);
    }

    private static string Slice(List<NodeProto> nodes, GraphProto graph, string name, string input, long start, long end)
    {
        string starts = Unique(graph, name + ".starts"), ends = Unique(graph, name + ".ends"), axes = Unique(graph, name + ".axes");
        graph.Initializer.Add(Tensors.Int64(starts, [start], 1));
        graph.Initializer.Add(Tensors.Int64(ends, [end], 1));
        graph.Initializer.Add(Tensors.Int64(axes, [1], 1));
        return Node(nodes, "Slice", name, [input, starts, ends, axes]);
    }

    private static string Node(List<NodeProto> nodes, string opType, string name, string[] inputs, string? output = null)
    {
        var node = GraphQueries.StandardNode(opType, name, inputs, output ?? name);
        nodes.Add(node);
        return node.Output[0];
    }

    private static string Unique(GraphProto graph, string name)
    {
        string candidate = name;
        for (int i = 1; graph.Initializer.Any(t => t.Name == candidate); i++) candidate = $"{name}_{i}";
        return candidate;
    }

}
