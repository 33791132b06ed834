using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// The pass that runs the backbone's stem as one <c>ai.bivm:Stem</c> (docs/model-contract.md, "Stem"): the chain
/// <code>
///   Sub(x, mean)  Div(·, std)  Conv(·, W, B) 3×3 stride 2 pads 1  InstanceNormalization(·, scale, bias)  t = HardSwish(·)
/// </code>
/// whose intermediates have one reader each, with t's readers folded in where they allow: a dense binary conv reading
/// t takes its sign bits packed by the stem (YPacked, against its τ), a 2×2 AveragePool of t (the shortcut's
/// downsampling) becomes the stem's Pooled output, and a 2×2 AveragePool of the stem's input x (the source pyramid's
/// first level, a pass over the frame of its own) its XPooled output, taken while the convolution reads x's rows.
/// Where nothing else reads t (no other node, no If branch, not a graph
/// output) the stem does not write it and the conv's X is the empty name, as <see cref="UnreadFloatFusion"/> leaves it.
/// The convolution sums in the op's own order and the normalization's statistics are the glue's, so the fused model
/// agrees with the unfused one within float rounding (not bit for bit, as ONNX Runtime's NCHWc Conv sums in an order of
/// its own). <see cref="Unfolded"/> is the inverse.
/// </summary>
public static class StemFusion
{
    private const string PackedSuffix = ".packed";

    /// <summary>Whether <paramref name="node"/> is the fused op.</summary>
    public static bool IsFused(NodeProto node) => node.OpType == BinaryConvSchema.Stem && node.Domain == BinaryConvSchema.Domain;

    /// <summary>How many Stem nodes <paramref name="model"/>'s main graph holds.</summary>
    public static int Count(ModelProto model) => model.Graph.Node.Count(IsFused);

    /// <summary>How many of them pool their input too (XPooled).</summary>
    public static int InputPoolCount(ModelProto model) =>
        model.Graph.Node.Count(n => IsFused(n) && n.Output.Count > BinaryConvSchema.StemXPooled && n.Output[BinaryConvSchema.StemXPooled].Length > 0);

    /// <summary>
    /// Rewrites the main graph's <paramref name="nodes"/> in place; returns how many stems it fused (or, fused before,
    /// gave their input's pool) and how many of them hand a binary conv their bits.
    /// </summary>
    internal static (int Stems, int HandOffs) Apply(List<NodeProto> nodes, GraphProto graph, Dictionary<string, TensorProto> initializers, ISet<string> graphOutputs)
    {
        var (readers, producers) = GraphQueries.ReadersAndProducers(nodes);
        var branchReads = GraphQueries.BranchReads(graph);
        bool Private(string tensor) => readers.GetValueOrDefault(tensor) == 1 && !graphOutputs.Contains(tensor) && !branchReads.Contains(tensor);
        NodeProto? Producer(string tensor, string opType) =>
            producers.TryGetValue(tensor, out var n) && n.OpType == opType && n.Domain.Length == 0 && n.Output.Count == 1 ? n : null;
        // C per-channel values shaped as the op reads them ([C], [C, 1, 1] or [1, C, 1, 1]: GlueFusion.Channels).
        TensorProto? Constant(string name, long count) =>
            initializers.TryGetValue(name, out var t) && GlueFusion.Channels(t) == count ? t : null;

        int fused = 0, handOffs = 0;
        var fusedHere = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        foreach (var act in nodes.Where(n => n is { OpType: "HardSwish", Domain: "" } && n.Input.Count == 1 && n.Output.Count == 1).ToList())
        {
            if (!Private(act.Input[0]) || Producer(act.Input[0], "InstanceNormalization") is not { Input.Count: 3 } norm) continue;
            if (!Private(norm.Input[0]) || Producer(norm.Input[0], "Conv") is not { Input.Count: 3 } conv || !IsStemConv(conv)) continue;
            if (!initializers.TryGetValue(conv.Input[1], out var w) || w.DataType != (int)TensorProto.Types.DataType.Float || w.Dims.Count != 4) continue;
            long channels = w.Dims[0], inChannels = w.Dims[1];
            if (channels < 1 || inChannels is < 1 or > 64 || w.Dims[2] != 3 || w.Dims[3] != 3) continue;
            if (Constant(conv.Input[2], channels) is null || Constant(norm.Input[1], channels) is null || Constant(norm.Input[2], channels) is null) continue;
            if (!Private(conv.Input[0]) || Producer(conv.Input[0], "Div") is not { Input.Count: 2 } div || Constant(div.Input[1], inChannels) is null) continue;
            if (!Private(div.Input[0]) || Producer(div.Input[0], "Sub") is not { Input.Count: 2 } sub || Constant(sub.Input[1], inChannels) is null) continue;

            string t = act.Output[0];
            var tReaders = nodes.Where(n => n.Input.Contains(t)).ToList();
            var binary = tReaders.Where(n => n.OpType == BinaryConvSchema.BinaryConv2d && n.Domain == BinaryConvSchema.Domain
                && n.Input.Count(i => i == t) == 1 && n.Input[BinaryConvSchema.InputX] == t
                && (n.Input.Count <= BinaryConvSchema.InputXPacked || n.Input[BinaryConvSchema.InputXPacked].Length == 0)
                && n.Input.Count > BinaryConvSchema.InputTau && Constant(n.Input[BinaryConvSchema.InputTau], channels) is not null).Take(1).ToList();
            // The pool in ONNX Runtime's order for this channel count, where every host sums it alike.
            var pool = tReaders.Where(n => n is { OpType: "AveragePool", Domain: "" } && n.Input.Count == 1 && n.Output.Count == 1
                && AveragePoolFusion.Matching(n) is not null && AveragePoolFusion.RowOrder(channels) is not null).Take(1).ToList();
            bool keepY = graphOutputs.Contains(t) || branchReads.Contains(t) || tReaders.Count > binary.Count + pool.Count;
            if (!keepY && binary.Count == 0 && pool.Count == 0) continue; // t has no reader at all: nothing to fuse for

            var stem = new NodeProto { OpType = BinaryConvSchema.Stem, Domain = BinaryConvSchema.Domain, Name = (conv.Name.Length > 0 ? conv.Name : conv.Output[0]) + ".fused" };
            stem.Input.AddRange([sub.Input[0], sub.Input[1], div.Input[1], conv.Input[1], conv.Input[2], norm.Input[1], norm.Input[2]]);
            if (norm.Attribute.FirstOrDefault(a => a.Name == "epsilon") is { } epsilon)
                stem.Attribute.Add(new AttributeProto { Name = BinaryConvSchema.StemEpsilon, Type = AttributeProto.Types.AttributeType.Float, F = epsilon.F });
            stem.Output.Add(keepY ? t : "");
            if (binary is [var reader])
            {
                var tau = new AttributeProto { Name = BinaryConvSchema.TauNext, Type = AttributeProto.Types.AttributeType.Floats };
                tau.Floats.AddRange(Tensors.FloatValues(initializers[reader.Input[BinaryConvSchema.InputTau]])!);
                stem.Attribute.Add(tau);
                GraphQueries.SetAt(stem.Output, BinaryConvSchema.StemPacked, t + PackedSuffix);
                if (!keepY) reader.Input[BinaryConvSchema.InputX] = "";
                GraphQueries.SetAt(reader.Input, BinaryConvSchema.InputXPacked, t + PackedSuffix);
                handOffs++;
            }
            if (pool is [var pooled])
            {
                if (AveragePoolFusion.Matching(pooled) == true)
                    stem.Attribute.Add(new AttributeProto { Name = BinaryConvSchema.PoolCeilMode, Type = AttributeProto.Types.AttributeType.Int, I = 1 });
                stem.Attribute.AddRange(AveragePoolFusion.RowOrderAttribute(AveragePoolFusion.RowOrder(channels) == true));
                GraphQueries.SetAt(stem.Output, BinaryConvSchema.StemPooled, pooled.Output[0]);
                nodes.Remove(pooled);
            }
            // The stem takes the Sub's place: its inputs exist there, and its outputs come before every reader.
            nodes[nodes.IndexOf(sub)] = stem;
            foreach (var n in new[] { div, conv, norm, act }) nodes.Remove(n);
            fusedHere.Add(stem);
            fused++;
        }
        // The pool of each stem's input joins it, also where the stem was fused by an earlier bivm without XPooled.
        foreach (var stem in nodes.Where(n => IsFused(n) && (n.Output.Count <= BinaryConvSchema.StemXPooled || n.Output[BinaryConvSchema.StemXPooled].Length == 0)).ToList())
            if (initializers.TryGetValue(stem.Input[BinaryConvSchema.StemW], out var w) && w.Dims.Count == 4 && TakeInputPool(nodes, stem, w.Dims[1]) && !fusedHere.Contains(stem))
                fused++;
        return (fused, handOffs);
    }

    /// <summary>
    /// Makes a 2×2 AveragePool of <paramref name="stem"/>'s input x (standard, or as AveragePool2x) its XPooled output,
    /// where ONNX Runtime's order for <paramref name="inChannels"/> is the same on every host; the stem then takes the place
    /// of whichever of the two came first (its inputs exist there: x and constants), and the pyramid's next levels (pools
    /// of XPooled, and of those) move up to right after it, while XPooled is in cache: RVM's decoder pools them where it
    /// begins, 80 nodes on, when XPooled had to come back from memory. Returns whether it found the pool.
    /// </summary>
    private static bool TakeInputPool(List<NodeProto> nodes, NodeProto stem, long inChannels)
    {
        string x = stem.Input[BinaryConvSchema.StemX];
        if (AveragePoolFusion.RowOrder(inChannels) is not { } rowOrder) return false;
        // Standard pools by their attributes; pools already fused by theirs, where they sum in the order the stem would.
        bool? Ceil(NodeProto n) => n.Input.Count != 1 || n.Output.Count != 1 ? null
            : n is { OpType: "AveragePool", Domain: "" } ? AveragePoolFusion.Matching(n)
            : AveragePoolFusion.IsFused(n) && (GraphQueries.Int(n, BinaryConvSchema.PoolRowOrder) == 1) == rowOrder ? GraphQueries.Int(n, BinaryConvSchema.PoolCeilMode) == 1
            : null;
        if (nodes.FirstOrDefault(n => n.Input.Count == 1 && n.Input[0] == x && Ceil(n) is not null) is not { } pool) return false;
        if (Ceil(pool) == true) stem.Attribute.Add(new AttributeProto { Name = BinaryConvSchema.StemInputCeilMode, Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        stem.Attribute.AddRange(AveragePoolFusion.RowOrderAttribute(rowOrder, BinaryConvSchema.StemInputRowOrder));
        GraphQueries.SetAt(stem.Output, BinaryConvSchema.StemXPooled, pool.Output[0]);
        int stemAt = nodes.IndexOf(stem), poolAt = nodes.IndexOf(pool);
        if (poolAt < stemAt)
        {
            nodes.RemoveAt(stemAt);
            nodes[poolAt] = stem;
        }
        else nodes.RemoveAt(poolAt);
        int after = nodes.IndexOf(stem);
        for (string level = pool.Output[0]; nodes.Skip(after + 1).FirstOrDefault(n => n.Input.Count == 1 && n.Input[0] == level && Ceil(n) is not null) is { } next; level = next.Output[0])
        {
            nodes.Remove(next);
            nodes.Insert(++after, next);
        }
        return true;
    }

    /// <summary>A standard 3×3 Conv with stride 2, pads 1, no dilation and one group (the stem's, the only shape the op computes).</summary>
    private static bool IsStemConv(NodeProto conv)
    {
        bool Ints(string name, long value, int count, bool absentMatches) =>
            GraphQueries.Ints(conv, name) is { } v ? v.Length == count && v.All(x => x == value) : absentMatches;
        return Ints("kernel_shape", 3, 2, true) && Ints("strides", 2, 2, false) && Ints("pads", 1, 4, false) && Ints("dilations", 1, 2, true)
            && (GraphQueries.Int(conv, "group") ?? 1) == 1 && GraphQueries.Text(conv, "auto_pad") is null or "" or "NOTSET";
    }

    /// <summary>
    /// A copy of <paramref name="model"/> with every Stem written back as its standard nodes (Sub, Div, Conv,
    /// InstanceNormalization, HardSwish, the AveragePool where it has Pooled and the input's, named after its output,
    /// where it has XPooled), the binary conv that took its bits
    /// reading the float tensor again. A Y the stem did not write is named again after its packed output
    /// (<c>t + ".packed"</c>), or after the node (<c>node + ".y"</c>) where only Pooled was written.
    /// </summary>
    public static ModelProto Unfolded(ModelProto model)
    {
        var copy = GraphQueries.WithoutChecksum(model);
        var graph = copy.Graph;
        if (!graph.Node.Any(IsFused)) return copy;
        var rewritten = new List<NodeProto>();
        foreach (var node in graph.Node)
        {
            if (!IsFused(node))
            {
                rewritten.Add(node);
                continue;
            }
            string Output(int i) => node.Output.Count > i ? node.Output[i] : "";
            string name = node.Name.EndsWith(".fused", StringComparison.Ordinal) ? node.Name[..^".fused".Length] : node.Name;
            string packed = Output(BinaryConvSchema.StemPacked), pooled = Output(BinaryConvSchema.StemPooled);
            string t = Output(BinaryConvSchema.StemY).Length > 0 ? Output(BinaryConvSchema.StemY)
                : packed.EndsWith(PackedSuffix, StringComparison.Ordinal) ? packed[..^PackedSuffix.Length]
                : node.Name + UnreadFloatFusion.ProjectionInputSuffix;
            string In(int i) => node.Input[i];
            var sub = Standard("Sub", name + ".sub_mean", [In(BinaryConvSchema.StemX), In(BinaryConvSchema.StemMean)], name + ".sub_mean");
            var div = Standard("Div", name + ".div_std", [sub.Output[0], In(BinaryConvSchema.StemStd)], name + ".div_std");
            var conv = Standard("Conv", name, [div.Output[0], In(BinaryConvSchema.StemW), In(BinaryConvSchema.StemB)], name);
            conv.Attribute.Add(new AttributeProto { Name = "kernel_shape", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 3, 3 } });
            conv.Attribute.Add(new AttributeProto { Name = "strides", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 2, 2 } });
            conv.Attribute.Add(new AttributeProto { Name = "pads", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 1, 1, 1, 1 } });
            var norm = Standard("InstanceNormalization", name + ".norm", [conv.Output[0], In(BinaryConvSchema.StemNormScale), In(BinaryConvSchema.StemNormBias)], name + ".norm");
            if (node.Attribute.FirstOrDefault(a => a.Name == BinaryConvSchema.StemEpsilon) is { } epsilon)
                norm.Attribute.Add(new AttributeProto { Name = "epsilon", Type = AttributeProto.Types.AttributeType.Float, F = epsilon.F });
            rewritten.AddRange([sub, div, conv, norm, Standard("HardSwish", name + ".act", [norm.Output[0]], t)]);
            if (pooled.Length > 0)
                rewritten.Add(AveragePoolFusion.Standard(name + ".act.down2", t, pooled, node.Attribute.FirstOrDefault(a => a.Name == BinaryConvSchema.PoolCeilMode)?.I == 1));
            if (Output(BinaryConvSchema.StemXPooled) is { Length: > 0 } inputPooled)
                rewritten.Add(AveragePoolFusion.Standard(inputPooled, In(BinaryConvSchema.StemX), inputPooled,
                    node.Attribute.FirstOrDefault(a => a.Name == BinaryConvSchema.StemInputCeilMode)?.I == 1));
            if (packed.Length == 0) continue;
            foreach (var reader in graph.Node.Where(n => GlueFusion.IsBinaryConv(n) && n.Input.Count > BinaryConvSchema.InputXPacked && n.Input[BinaryConvSchema.InputXPacked] == packed))
            {
                reader.Input[BinaryConvSchema.InputX] = t;
                reader.Input[BinaryConvSchema.InputXPacked] = "";
                GlueFusion.DropPackedInput(reader);
            }
        }
        graph.Node.Clear();
        graph.Node.AddRange(rewritten);
        return copy;
    }

    private static NodeProto Standard(string opType, string name, string[] inputs, string output) => GraphQueries.StandardNode(opType, name, inputs, output);
}
