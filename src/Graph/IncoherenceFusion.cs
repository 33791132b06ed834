using BiVM.Contracts;
using Google.Protobuf;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// A pass of <see cref="GlueFusion"/>, in binary models: the front of SHB's incoherent mask as the exporter writes it
/// (src/Export/IncoherentMaskWriter.cs),
/// <code>
///   u = Resize(S, "", [1, 1, 2, 2], linear, pytorch_half_pixel)   c = Slice(u, [0, 0], Slice(Shape(F), [2], [4]), [2, 3])
///   D = Reshape(ReduceMean(Abs(Sub(F, c)), axes [1], keepdims 0), [0, −1])
///   Positives = Reshape(ReduceSum(Cast(GreaterOrEqual(F, 0), float), [1], keepdims 0), [0, 1, −1])
/// </code>
/// becomes one <c>ai.bivm:Incoherence(F, S) → (D, Positives)</c> named after the ReduceMean, with the two Reshapes'
/// outputs. The op computes what ONNX Runtime computes for these nodes, bit for bit (docs/model-contract.md,
/// "Incoherence"). Fused only where every intermediate has that one reader and is no graph output; the Shape and
/// Slice nodes and the constants that only the chain read go with it. <see cref="Unfuse"/> is the inverse.
/// </summary>
public static class IncoherenceFusion
{
    /// <summary>Whether <paramref name="node"/> is the fused op.</summary>
    public static bool IsFused(NodeProto node) => node.OpType == BinaryConvSchema.Incoherence && node.Domain == BinaryConvSchema.Domain;

    /// <summary>How many Incoherence nodes <paramref name="model"/>'s main graph holds.</summary>
    public static int Count(ModelProto model) => model.Graph.Node.Count(IsFused);

    /// <summary>Rewrites <paramref name="nodes"/> (the main graph's, in order) in place; returns how many chains it fused.</summary>
    internal static int Apply(ModelProto model, List<NodeProto> nodes)
    {
        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name);
        var outputs = graph.Output.Select(o => o.Name).ToHashSet();
        var (_, producers) = GraphQueries.ReadersAndProducers(nodes);
        var readers = UpsampleConcatFusion.Readers(nodes); // If branches' reads of outer tensors counted too

        bool Private(string tensor) => readers.GetValueOrDefault(tensor) == 1 && !outputs.Contains(tensor);
        NodeProto? Producer(string tensor, string opType) =>
            producers.TryGetValue(tensor, out var n) && n.OpType == opType && n.Domain.Length == 0 ? n : null;
        NodeProto? Reader(string tensor, string opType) =>
            Private(tensor) ? nodes.FirstOrDefault(n => n.OpType == opType && n.Domain.Length == 0 && n.Input.Contains(tensor)) : null;
        bool Ints(string name, params long[] values) => initializers.TryGetValue(name, out var t) && Tensors.Int64Values(t) is { } v && v.SequenceEqual(values);
        long? Int(NodeProto node, string attribute) => node.Attribute.FirstOrDefault(a => a.Name == attribute) is { } a ? a.I : null;
        bool AxesAttribute(NodeProto node) => node.Attribute.FirstOrDefault(a => a.Name == "axes") is { } a && a.Ints.SequenceEqual([1L]);
        // axes [1], keepdims 0, and nothing else: as an attribute (ReduceMean before opset 18) or an input (ReduceSum from 13, ReduceMean from 18).
        bool OverChannels(NodeProto reduce) =>
            Int(reduce, "keepdims") == 0 && reduce.Attribute.All(a => a.Name is "axes" or "keepdims")
            && (reduce.Input.Count == 1 && AxesAttribute(reduce) || reduce.Input.Count == 2 && Ints(reduce.Input[1], 1) && !reduce.Attribute.Any(a => a.Name == "axes"));
        bool Reshaped(NodeProto? reshape, params long[] shape) =>
            reshape is { Input.Count: 2, Output.Count: 1 } && Ints(reshape.Input[1], shape) && reshape.Attribute.All(a => a.Name == "allowzero" && a.I == 0);

        var removed = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var replacements = new Dictionary<NodeProto, NodeProto>(ReferenceEqualityComparer.Instance);
        foreach (var mean in nodes.Where(n => n is { OpType: "ReduceMean", Domain: "" } && n.Output.Count == 1).ToList())
        {
            if (!OverChannels(mean) || !Private(mean.Input[0]) || Producer(mean.Input[0], "Abs") is not { Input.Count: 1 } abs) continue;
            if (!Private(abs.Input[0]) || Producer(abs.Input[0], "Sub") is not { Input.Count: 2 } sub) continue;
            string f = sub.Input[0];
            if (!Private(sub.Input[1]) || Producer(sub.Input[1], "Slice") is not { Input.Count: 4 or 5 } crop) continue;
            if (!Ints(crop.Input[1], 0, 0) || !Ints(crop.Input[3], 2, 3) || crop.Input.Count == 5 && crop.Input[4].Length > 0 && !Ints(crop.Input[4], 1, 1)) continue;
            // The crop's ends are F's H and W.
            if (Producer(crop.Input[2], "Slice") is not { Input.Count: 3 or 4 } hw || !Ints(hw.Input[1], 2) || !Ints(hw.Input[2], 4)
                || hw.Input.Count == 4 && hw.Input[3].Length > 0 && !Ints(hw.Input[3], 0)) continue;
            if (Producer(hw.Input[0], "Shape") is not { Attribute.Count: 0 } shape || shape.Input[0] != f) continue;
            if (!Private(crop.Input[0]) || Producer(crop.Input[0], "Resize") is not { } resize || !UpsampleConcatFusion.IsBilinear2x(resize, initializers)) continue;
            var flat = Reader(mean.Output[0], "Reshape");
            if (!Reshaped(flat, 0, -1) || flat!.Input[0] != mean.Output[0]) continue;
            // The signs' count over the same F.
            var ge = nodes.FirstOrDefault(n => n is { OpType: "GreaterOrEqual", Domain: "", Input.Count: 2 } && n.Input[0] == f
                && initializers.TryGetValue(n.Input[1], out var zero) && zero.Dims.Aggregate(1L, (a, b) => a * b) == 1 && Tensors.FloatValues(zero) is [0f]);
            if (ge is null || removed.Contains(ge) || Reader(ge.Output[0], "Cast") is not { } cast || Int(cast, "to") != (long)TensorProto.Types.DataType.Float) continue;
            if (Reader(cast.Output[0], "ReduceSum") is not { } sum || sum.Input[0] != cast.Output[0] || !OverChannels(sum)) continue;
            var positives = Reader(sum.Output[0], "Reshape");
            if (!Reshaped(positives, 0, 1, -1) || positives!.Input[0] != sum.Output[0]) continue;

            var node = new NodeProto
            {
                OpType = BinaryConvSchema.Incoherence,
                Domain = BinaryConvSchema.Domain,
                Name = (mean.Name.Length > 0 ? mean.Name : mean.Output[0]) + ".fused",
            };
            node.Input.AddRange([f, resize.Input[0]]);
            node.Output.AddRange([flat.Output[0], positives.Output[0]]);
            // In the Resize's place (the chain's reader of S), where F is written before it and the two outputs read after it.
            int at = nodes.IndexOf(resize);
            if (producers.TryGetValue(f, out var fProducer) && nodes.IndexOf(fProducer) > at) continue;
            if (nodes.Any(n => (n.Input.Contains(flat.Output[0]) || n.Input.Contains(positives.Output[0])) && nodes.IndexOf(n) < at)) continue;
            foreach (var n in new[] { resize, crop, sub, abs, mean, flat, ge, cast, sum, positives }) removed.Add(n);
            replacements[resize] = node;
        }
        if (replacements.Count == 0) return 0;

        var rewritten = GraphQueries.Rewritten(nodes, replacements, removed);
        UpsampleConcatFusion.RemoveDead(graph, rewritten, outputs);
        nodes.Clear();
        nodes.AddRange(rewritten);
        return replacements.Count;
    }

    /// <summary>
    /// The inverse for one node: the standard ops it stands for (the ReduceMean's axes as an attribute before opset 18,
    /// as an input from it), appended to <paramref name="nodes"/>, constants added to <paramref name="graph"/>.
    /// </summary>
    public static void Unfuse(GraphProto graph, NodeProto node, List<NodeProto> nodes, long opset)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(nodes);
        string name = node.Name.EndsWith(".fused", StringComparison.Ordinal) ? node.Name[..^".fused".Length] : node.Name.Length > 0 ? node.Name : node.Output[0];
        string Constant(string constantName, Func<string, TensorProto> make)
        {
            if (!graph.Initializer.Any(t => t.Name == constantName)) graph.Initializer.Add(make(constantName));
            return constantName;
        }
        NodeProto Add(string opType, string nodeName, IEnumerable<string> inputs, string? output = null)
        {
            var n = new NodeProto { OpType = opType, Name = nodeName };
            n.Input.AddRange(inputs);
            n.Output.Add(output ?? nodeName);
            nodes.Add(n);
            return n;
        }
        static AttributeProto Attribute(string attributeName, long value) => new() { Name = attributeName, Type = AttributeProto.Types.AttributeType.Int, I = value };
        string f = node.Input[BinaryConvSchema.IncoherenceF], s = node.Input[BinaryConvSchema.IncoherenceS];

        var resize = Add("Resize", name + ".up2", [s, "", Constant("upsample2x.scales", n => Tensors.Float(n, [1f, 1f, 2f, 2f], 4))]);
        resize.Attribute.Add(new AttributeProto { Name = "mode", Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8("linear") });
        resize.Attribute.Add(new AttributeProto { Name = "coordinate_transformation_mode", Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8("pytorch_half_pixel") });
        var shape = Add("Shape", name + ".f_shape", [f]);
        var hw = Add("Slice", name + ".f_hw", [shape.Output[0], Constant("upsample2x.i2", n => Tensors.Int64(n, [2L], 1)), Constant("upsample2x.i4", n => Tensors.Int64(n, [4L], 1))]);
        var crop = Add("Slice", name + ".crop", [resize.Output[0], Constant("upsample2x.zeros2", n => Tensors.Int64(n, [0L, 0L], 2)), hw.Output[0], Constant("upsample2x.axes_hw", n => Tensors.Int64(n, [2L, 3L], 2))]);
        var abs = Add("Abs", name + ".abs", [Add("Sub", name + ".diff", [f, crop.Output[0]]).Output[0]]);
        string axis1 = Constant("incoherence.axis1", n => Tensors.Int64(n, [1L], 1));
        var mean = Add("ReduceMean", name, opset >= 18 ? [abs.Output[0], axis1] : [abs.Output[0]]);
        if (opset < 18) mean.Attribute.Add(new AttributeProto { Name = "axes", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 1L } });
        mean.Attribute.Add(Attribute("keepdims", 0));
        Add("Reshape", name + ".flat", [mean.Output[0], Constant("incoherence.n_flat", n => Tensors.Int64(n, [0L, -1L], 2))], node.Output[BinaryConvSchema.IncoherenceD]);
        var ge = Add("GreaterOrEqual", name + ".ge0", [f, Constant("incoherence.zero", n => Tensors.Float(n, [0f], 1))]);
        var cast = Add("Cast", name + ".nonneg", [ge.Output[0]]);
        cast.Attribute.Add(Attribute("to", (long)TensorProto.Types.DataType.Float));
        var sum = Add("ReduceSum", name + ".positives", [cast.Output[0], axis1]);
        sum.Attribute.Add(Attribute("keepdims", 0));
        Add("Reshape", name + ".positives_flat", [sum.Output[0], Constant("incoherence.n_1_flat", n => Tensors.Int64(n, [0L, 1L, -1L], 3))], node.Output[BinaryConvSchema.IncoherencePositives]);
    }
}
