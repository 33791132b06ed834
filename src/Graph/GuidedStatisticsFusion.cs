using BiVM.Contracts;
using Onnx;
using static BiVM.Graph.GraphQueries;

namespace BiVM.Graph;

/// <summary>
/// The Deep Guided Filter's statistics at the working size as one <c>ai.bivm:GuidedStatistics</c> node (docs/export.md,
/// "Fusion"). The exporter writes, in the else branch of the <c>If</c> on downsample_ratio ≠ 1,
/// <code>
///   x = Concat(X, ReduceMean(X, axes [1]))   mx = box(x)   my = box(y)        box(t) = Conv(t, W, B), 3×3, pads 1, group 4
///   cov = Sub(box(Mul(x, y)), Mul(mx, my))   var = Sub(box(Mul(x, x)), Mul(mx, mx))   stats = Concat(cov, var, hidden)
/// </code>
/// thirteen nodes and eleven working-size tensors (about 13 ms of a 1920×1080 frame at r = 0.25 on one thread). The
/// pass replaces them by GuidedStatistics(X, y, W, B, hidden) → (stats, mx, my); mx and my keep their names (the
/// refiner reads them again for b = my − A·mx). <see cref="Unfuse"/> writes the standard ops back.
/// </summary>
/// <remarks>
/// Matched only where the four Convs share W (float32 [4, 1, 3, 3]) and B ([4]) initializers, are 3×3 with pads 1,
/// stride and dilation 1 and group 4, every intermediate but mx and my is read by the chain alone and is not a graph
/// output, and every other reader of mx and my comes after the stats Concat. Within 1e-5 of the standard ops
/// (bit-identical where ONNX Runtime's depthwise conv sums with FMA in kernel order, as on the hosts tested).
/// </remarks>
public static class GuidedStatisticsFusion
{
    /// <summary>Fuses every match in the main graph and its sub-graphs (in place); returns how many.</summary>
    public static int Apply(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var main = model.Graph;
        int fused = 0;
        foreach (var graph in WithSubgraphs(main).ToList())
        {
            var initializers = main.Initializer.Concat(graph.Initializer).GroupBy(t => t.Name).ToDictionary(g => g.Key, g => g.Last());
            var index = new GraphIndex(graph);
            foreach (var concat in graph.Node.Where(n => n is { OpType: "Concat", Domain: "", Input.Count: 3 } && Int(n, "axis") == 1).ToList())
            {
                if (Match(graph, index, initializers, concat) is not { } chain) continue;
                var node = new NodeProto { OpType = BinaryConvSchema.GuidedStatistics, Domain = BinaryConvSchema.Domain, Name = (concat.Name.Length > 0 ? concat.Name : concat.Output[0]) + ".fused" };
                node.Input.AddRange([chain.X, chain.Y, chain.W, chain.B, concat.Input[2]]);
                node.Output.AddRange([concat.Output[0], chain.MeanX, chain.MeanY]);
                int at = graph.Node.IndexOf(concat);
                graph.Node[at] = node;
                foreach (var n in chain.Nodes) graph.Node.Remove(n);
                index = new GraphIndex(graph);
                fused++;
            }
        }
        return fused;
    }

    /// <summary>How many GuidedStatistics nodes <paramref name="model"/> has (in any graph).</summary>
    public static int Count(ModelProto model) =>
        WithSubgraphs(model.Graph).Sum(g => g.Node.Count(n => n.OpType == BinaryConvSchema.GuidedStatistics && n.Domain == BinaryConvSchema.Domain));

    /// <summary>
    /// Every GuidedStatistics node (in any graph) written back as the standard ops it stands for. A packed hand-off from
    /// it goes too: the binary conv that read StatsPacked packs Stats itself again (a 1×1 conv folded into its glue is
    /// written back as a node first, <see cref="PointwiseFusion.Unfold"/>). A Hidden handed over as bits and a Stats left
    /// unwritten are named again first (<see cref="UnreadFloatFusion.Restore"/>, which runs <see cref="HiddenHandOffFusion.Restore"/>
    /// and names the other float outputs left out too).
    /// </summary>
    public static void Unfuse(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        UnreadFloatFusion.Restore(model);
        var graphs = WithSubgraphs(model.Graph).ToList();
        var packed = graphs.SelectMany(g => g.Node)
            .Where(n => n.OpType == BinaryConvSchema.GuidedStatistics && n.Domain == BinaryConvSchema.Domain && n.Output.Count > BinaryConvSchema.StatisticsPacked)
            .Select(n => n.Output[BinaryConvSchema.StatisticsPacked]).Where(t => t.Length > 0).ToHashSet();
        foreach (var graph in graphs)
        {
            var rewritten = new List<NodeProto>();
            foreach (var node in graph.Node)
            {
                if (PointwiseFusion.IsFolded(node) && packed.Contains(node.Input[BinaryConvSchema.ActivationPointwiseXPacked]))
                    PointwiseFusion.Unfold(rewritten, node, node.Name.Length > 0 ? node.Name : node.Output[0]);
                rewritten.Add(node);
            }
            foreach (var conv in rewritten.Where(n => GlueFusion.IsBinaryConv(n) && n.Input.Count > BinaryConvSchema.InputXPacked && packed.Contains(n.Input[BinaryConvSchema.InputXPacked])))
                GlueFusion.DropPackedInput(conv);
            graph.Node.Clear();
            graph.Node.AddRange(rewritten);
            for (int i = 0; i < graph.Node.Count; i++)
            {
                var node = graph.Node[i];
                if (node.OpType != BinaryConvSchema.GuidedStatistics || node.Domain != BinaryConvSchema.Domain) continue;
                var ops = Expand(node);
                graph.Node.RemoveAt(i);
                for (int j = 0; j < ops.Count; j++) graph.Node.Insert(i + j, ops[j]);
                i += ops.Count - 1;
            }
        }
    }

    private sealed record Chain(string X, string Y, string W, string B, string MeanX, string MeanY, List<NodeProto> Nodes);

    /// <summary>One graph's producers, readers and outputs, built once per graph (and again after a match is replaced).</summary>
    private sealed class GraphIndex
    {
        public readonly Dictionary<string, NodeProto> Producers = new();
        public readonly Dictionary<string, List<NodeProto>> Readers = new();
        public readonly HashSet<string> Outputs;

        public GraphIndex(GraphProto graph)
        {
            foreach (var n in graph.Node)
            {
                foreach (var o in n.Output) Producers[o] = n;
                foreach (var i in n.Input) (Readers.TryGetValue(i, out var l) ? l : Readers[i] = []).Add(n);
            }
            Outputs = graph.Output.Select(o => o.Name).ToHashSet();
        }
    }

    private static Chain? Match(GraphProto graph, GraphIndex index, Dictionary<string, TensorProto> initializers, NodeProto concat)
    {
        var (producers, readers, outputs) = (index.Producers, index.Readers, index.Outputs);
        NodeProto? Producer(string tensor, string opType) => producers.TryGetValue(tensor, out var n) && n.OpType == opType && n.Domain.Length == 0 ? n : null;

        if (Producer(concat.Input[0], "Sub") is not { Input.Count: 2 } cov || Producer(concat.Input[1], "Sub") is not { Input.Count: 2 } variance) return null;
        if (Producer(variance.Input[1], "Mul") is not { Input.Count: 2 } meanSquare || meanSquare.Input[0] != meanSquare.Input[1]) return null;
        string mx = meanSquare.Input[0];
        if (Producer(cov.Input[1], "Mul") is not { Input.Count: 2 } meanProduct || !meanProduct.Input.Contains(mx)) return null;
        string my = meanProduct.Input[0] == mx ? meanProduct.Input[1] : meanProduct.Input[0];
        if (Producer(mx, "Conv") is not { } boxX || Producer(my, "Conv") is not { } boxY) return null;
        if (Producer(cov.Input[0], "Conv") is not { } boxXY || Producer(variance.Input[0], "Conv") is not { } boxXX) return null;
        var boxes = new[] { boxX, boxY, boxXY, boxXX };
        if (boxes.Any(b => !IsBox(b, initializers)) || boxes.Any(b => b.Input[1] != boxX.Input[1] || b.Input[2] != boxX.Input[2])) return null;
        string x = boxX.Input[0], y = boxY.Input[0];
        if (Producer(boxXX.Input[0], "Mul") is not { Input.Count: 2 } square || square.Input[0] != x || square.Input[1] != x) return null;
        if (Producer(boxXY.Input[0], "Mul") is not { Input.Count: 2 } product || !(product.Input[0] == x && product.Input[1] == y || product.Input[0] == y && product.Input[1] == x)) return null;
        if (Producer(x, "Concat") is not { Input.Count: 2 } guide || Int(guide, "axis") != 1) return null;
        string frame = guide.Input[0];
        if (Producer(guide.Input[1], "ReduceMean") is not { Input.Count: 1 } mean || mean.Input[0] != frame || Int(mean, "keepdims") != 1 || Ints(mean, "axes") is not [1]) return null;

        var chain = new List<NodeProto> { mean, guide, boxX, boxY, product, boxXY, meanProduct, cov, square, boxXX, meanSquare, variance };
        // Every intermediate is read by the chain alone; mx and my may be read later (the fused node writes them).
        bool Private(string tensor) => !outputs.Contains(tensor) && readers.GetValueOrDefault(tensor, []).All(r => chain.Contains(r) || r == concat);
        foreach (var t in new[] { mean.Output[0], x, product.Output[0], boxXY.Output[0], meanProduct.Output[0], cov.Output[0], square.Output[0], boxXX.Output[0], meanSquare.Output[0], variance.Output[0] })
            if (!Private(t)) return null;
        int concatAt = graph.Node.IndexOf(concat);
        foreach (var t in new[] { mx, my })
            if (readers.GetValueOrDefault(t, []).Any(r => !chain.Contains(r) && graph.Node.IndexOf(r) < concatAt)) return null;
        // The frame, y and hidden must exist before the stats Concat, where the fused node goes.
        foreach (var t in new[] { frame, y, concat.Input[2] })
            if (producers.TryGetValue(t, out var p) && graph.Node.IndexOf(p) > concatAt) return null;
        return new Chain(frame, y, boxX.Input[1], boxX.Input[2], mx, my, chain);
    }

    /// <summary>Conv(t, W, B), W float32 [4, 1, 3, 3] and B float32 [4] initializers, 3×3, pads 1, stride and dilation 1, group 4.</summary>
    private static bool IsBox(NodeProto conv, Dictionary<string, TensorProto> initializers)
    {
        if (conv.Input.Count != 3) return false;
        if (!initializers.TryGetValue(conv.Input[1], out var w) || w.DataType != (int)TensorProto.Types.DataType.Float || !w.Dims.SequenceEqual([4L, 1L, 3L, 3L])) return false;
        if (!initializers.TryGetValue(conv.Input[2], out var b) || b.DataType != (int)TensorProto.Types.DataType.Float || !b.Dims.SequenceEqual([4L])) return false;
        foreach (var a in conv.Attribute)
        {
            bool ok = a.Name switch
            {
                "kernel_shape" => a.Ints.SequenceEqual([3L, 3L]),
                "pads" => a.Ints.SequenceEqual([1L, 1L, 1L, 1L]),
                "strides" or "dilations" => a.Ints.All(v => v == 1),
                "group" => a.I == 4,
                "auto_pad" => a.S.ToStringUtf8() == "NOTSET",
                _ => false,
            };
            if (!ok) return false;
        }
        return Int(conv, "group") == 4 && conv.Attribute.Any(a => a.Name == "pads");
    }

    /// <summary>The standard ops of one GuidedStatistics node, in order; intermediates named after the node.</summary>
    private static List<NodeProto> Expand(NodeProto node)
    {
        // The stats Concat gets the name the pass took the fused node's from, so fusing again gives the same node.
        string name = node.Name.Length == 0 ? node.Output[0] : node.Name.EndsWith(".fused", StringComparison.Ordinal) ? node.Name[..^".fused".Length] : node.Name;
        string frame = node.Input[BinaryConvSchema.StatisticsX], y = node.Input[BinaryConvSchema.StatisticsY];
        string w = node.Input[BinaryConvSchema.StatisticsBoxW], b = node.Input[BinaryConvSchema.StatisticsBoxB];
        string mx = node.Output[BinaryConvSchema.StatisticsMeanX], my = node.Output[BinaryConvSchema.StatisticsMeanY];
        var ops = new List<NodeProto>();
        NodeProto Op(string type, string suffix, string[] inputs, string? output = null)
        {
            var n = new NodeProto { OpType = type, Name = suffix.Length == 0 ? name : $"{name}.{suffix}" };
            n.Input.AddRange(inputs);
            n.Output.Add(output ?? n.Name);
            ops.Add(n);
            return n;
        }
        NodeProto Box(string suffix, string input, string? output = null)
        {
            var conv = Op("Conv", suffix, [input, w, b], output);
            new NodeBuilder(conv).Attribute("kernel_shape", 3L, 3L).Attribute("strides", 1L, 1L).Attribute("pads", 1L, 1L, 1L, 1L)
                .Attribute("dilations", 1L, 1L).Attribute("group", 4L);
            return conv;
        }
        var mean = Op("ReduceMean", "mean", [frame]);
        new NodeBuilder(mean).Attribute("axes", [1L]).Attribute("keepdims", 1L);
        var x = Op("Concat", "x", [frame, mean.Output[0]]);
        new NodeBuilder(x).Attribute("axis", 1L);
        Box("mean_x", x.Output[0], mx);
        Box("mean_y", y, my);
        var xy = Op("Mul", "xy", [x.Output[0], y]);
        var boxXY = Box("box_xy", xy.Output[0]);
        var meanXY = Op("Mul", "mean_xy", [mx, my]);
        var cov = Op("Sub", "cov_xy", [boxXY.Output[0], meanXY.Output[0]]);
        var xx = Op("Mul", "xx", [x.Output[0], x.Output[0]]);
        var boxXX = Box("box_xx", xx.Output[0]);
        var meanXX = Op("Mul", "mean_xx", [mx, mx]);
        var variance = Op("Sub", "var_x", [boxXX.Output[0], meanXX.Output[0]]);
        var stats = Op("Concat", "", [cov.Output[0], variance.Output[0], node.Input[BinaryConvSchema.StatisticsHidden]], node.Output[BinaryConvSchema.StatisticsStats]);
        new NodeBuilder(stats).Attribute("axis", 1L);
        return ops;
    }
}
