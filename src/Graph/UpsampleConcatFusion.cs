using BiVM.Contracts;
using Google.Protobuf;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// The fusion pass for the decoder's upsampling glue (run by <see cref="GlueFusion.Apply"/>, undone by
/// <see cref="GlueFusion.Unfuse"/>). Each
/// <code>
///   [x = Concat(x₁ … x_k, axis 1)]  u = Resize(x, "", [1, 1, 2, 2], linear, pytorch_half_pixel | half_pixel)
///   c = Slice(u, [0, 0], Slice(Shape(s), [2], [4]), [2, 3])   y = Concat(c, s₁ … s_m, axis 1)   (s one of the s_j)
/// </code>
/// (src/Model's Resample.Up2To followed by the decoder's concatenation, and the block output concatenation before it
/// where only the Resize reads it) becomes one <c>ai.bivm:Upsample2xConcat(x₁ … x_k, s₁ … s_m; upsampled = k)</c>
/// with y's name. The op reproduces ORT's Resize arithmetic and copies everything else, so the values are
/// bit-identical. Fused only where u, c and the inner concatenation have no other reader and are no graph output;
/// the Shape/Slice nodes and constants that only the crop read are removed with it. Main graph only, and only in
/// a model that already has ai.bivm nodes: the FP32 RVM stays standard ONNX.
/// </summary>
public static class UpsampleConcatFusion
{
    /// <summary>Rewrites <paramref name="nodes"/> (the main graph's, in order) in place; returns the number of nodes fused.</summary>
    /// <param name="model">The model the nodes belong to: its opset, initializers and graph outputs are read, and
    /// initializers only the removed nodes read are removed.</param>
    /// <param name="nodes">The main graph's nodes, possibly already rewritten by other passes.</param>
    public static int Apply(ModelProto model, List<NodeProto> nodes)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(nodes);
        long opset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max();
        if (opset < 11) return 0; // Resize before opset 11 has no coordinate_transformation_mode (asymmetric only)
        // A model that needs no ai.bivm op (the FP32 RVM, the reference users compare against) stays standard ONNX.
        if (!nodes.Any(n => n.Domain == BinaryConvSchema.Domain)) return 0;
        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name);
        var outputs = graph.Output.Select(o => o.Name).ToHashSet();
        var producers = new Dictionary<string, NodeProto>();
        foreach (var node in nodes)
            foreach (var o in node.Output) producers[o] = node;
        var readers = Readers(nodes);

        bool Private(string tensor) => readers.GetValueOrDefault(tensor) == 1 && !outputs.Contains(tensor);
        NodeProto? Producer(string tensor, string opType) =>
            producers.TryGetValue(tensor, out var n) && n.OpType == opType && n.Domain.Length == 0 ? n : null;
        bool Ints(string name, params long[] values) => initializers.TryGetValue(name, out var t) && Tensors.Int64Values(t) is { } v && v.SequenceEqual(values);

        var removed = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var replacements = new Dictionary<NodeProto, NodeProto>(ReferenceEqualityComparer.Instance);
        foreach (var concat in nodes.Where(n => n.OpType == "Concat" && n.Domain.Length == 0 && ChannelAxis(n) && n.Input.Count >= 2).ToList())
        {
            if (removed.Contains(concat) || !Private(concat.Input[0])) continue;
            var crop = Producer(concat.Input[0], "Slice");
            if (crop is null || crop.Input.Count is < 4 or > 5 || !Private(crop.Input[0])) continue;
            if (!Ints(crop.Input[1], 0, 0) || !Ints(crop.Input[3], 2, 3) || crop.Input.Count == 5 && crop.Input[4].Length > 0 && !Ints(crop.Input[4], 1, 1)) continue;
            // The crop's ends must be H and W of a tensor the concatenation copies: then c has that tensor's H × W.
            var hw = Producer(crop.Input[2], "Slice");
            if (hw is null || hw.Input.Count is < 3 or > 4 || !Ints(hw.Input[1], 2) || !Ints(hw.Input[2], 4) || hw.Input.Count == 4 && hw.Input[3].Length > 0 && !Ints(hw.Input[3], 0)) continue;
            var shape = Producer(hw.Input[0], "Shape");
            if (shape is null || shape.Attribute.Count > 0 || !concat.Input.Skip(1).Contains(shape.Input[0])) continue;
            var resize = Producer(crop.Input[0], "Resize");
            if (resize is null || !IsBilinear2x(resize, initializers)) continue;

            var chain = new List<NodeProto> { crop, resize };
            var upsampled = new List<string> { resize.Input[0] };
            if (Private(resize.Input[0]) && Producer(resize.Input[0], "Concat") is { } inner && ChannelAxis(inner) && !removed.Contains(inner))
            {
                chain.Add(inner);
                upsampled = [.. inner.Input];
            }
            var node = new NodeProto
            {
                OpType = BinaryConvSchema.Upsample2xConcat,
                Domain = BinaryConvSchema.Domain,
                Name = (concat.Name.Length > 0 ? concat.Name : concat.Output[0]) + ".fused",
            };
            node.Input.AddRange(upsampled);
            node.Input.AddRange(concat.Input.Skip(1));
            node.Output.Add(concat.Output[0]);
            node.Attribute.Add(new AttributeProto { Name = BinaryConvSchema.UpsampledInputs, Type = AttributeProto.Types.AttributeType.Int, I = upsampled.Count });
            foreach (var n in chain) removed.Add(n);
            removed.Add(concat);
            replacements[concat] = node;
        }
        if (replacements.Count == 0) return 0;

        var rewritten = GraphQueries.Rewritten(nodes, replacements, removed);
        RemoveDead(graph, rewritten, outputs);
        nodes.Clear();
        nodes.AddRange(rewritten);
        return replacements.Count;
    }

    /// <summary>The inverse for one node: the standard ops it stands for, appended to <paramref name="nodes"/>, constants added to <paramref name="graph"/>.</summary>
    /// <exception cref="ArgumentException">The node has fewer than two inputs or an <c>upsampled</c> count that leaves none to copy.</exception>
    public static void Unfuse(GraphProto graph, NodeProto node, List<NodeProto> nodes)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(nodes);
        string name = node.Name.Length > 0 ? node.Name : node.Output[0];
        long k = node.Attribute.FirstOrDefault(a => a.Name == BinaryConvSchema.UpsampledInputs)?.I ?? 1;
        if (k < 1 || k >= node.Input.Count)
            throw new ArgumentException($"{name}: {BinaryConvSchema.UpsampledInputs} = {k} must leave at least one input to upsample and one to copy ({node.Input.Count} inputs)", nameof(node));
        string Constant(string constantName, Func<string, TensorProto> make)
        {
            if (!graph.Initializer.Any(t => t.Name == constantName)) graph.Initializer.Add(make(constantName));
            return constantName;
        }
        string x = node.Input[0];
        if (k > 1) x = Add(nodes, "Concat", name + ".upsampled", node.Input.Take((int)k), axis: true);
        var resize = new NodeProto { OpType = "Resize", Name = name + ".up2" };
        resize.Input.AddRange([x, "", Constant("upsample2x.scales", n => Tensors.Float(n, [1f, 1f, 2f, 2f], 4))]);
        resize.Output.Add(resize.Name);
        resize.Attribute.Add(new AttributeProto { Name = "mode", Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8("linear") });
        resize.Attribute.Add(new AttributeProto { Name = "coordinate_transformation_mode", Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8("pytorch_half_pixel") });
        nodes.Add(resize);
        string like = node.Input[(int)k];
        var shape = Add(nodes, "Shape", name + ".like_shape", [like]);
        var hw = Add(nodes, "Slice", name + ".like_hw", [shape, Constant("upsample2x.i2", n => Tensors.Int64(n, [2L], 1)), Constant("upsample2x.i4", n => Tensors.Int64(n, [4L], 1))]);
        var crop = Add(nodes, "Slice", name + ".crop", [resize.Output[0], Constant("upsample2x.zeros2", n => Tensors.Int64(n, [0L, 0L], 2)), hw, Constant("upsample2x.axes_hw", n => Tensors.Int64(n, [2L, 3L], 2))]);
        var concat = new NodeProto { OpType = "Concat", Name = name + ".concat" };
        concat.Input.Add(crop);
        concat.Input.AddRange(node.Input.Skip((int)k));
        concat.Output.Add(node.Output[0]);
        concat.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        nodes.Add(concat);
    }

    /// <summary>Resize(X, "", scales = [1, 1, 2, 2]) in linear mode with half-pixel coordinates: the only Resize the op reproduces.</summary>
    internal static bool IsBilinear2x(NodeProto resize, Dictionary<string, TensorProto> initializers)
    {
        if (resize.Input.Count is < 3 or > 4 || resize.Input[1].Length > 0 && !initializers.ContainsKey(resize.Input[1])) return false;
        if (resize.Input.Count == 4 && resize.Input[3].Length > 0) return false;
        if (!initializers.TryGetValue(resize.Input[2], out var scales) || Tensors.FloatValues(scales) is not [1f, 1f, 2f, 2f]) return false;
        foreach (var a in resize.Attribute)
        {
            bool ok = a.Name switch
            {
                "mode" => a.S.ToStringUtf8() == "linear",
                // With scale 2 and at least one input sample the resized length is > 1, where the two modes agree.
                "coordinate_transformation_mode" => a.S.ToStringUtf8() is "pytorch_half_pixel" or "half_pixel",
                "antialias" or "exclude_outside" => a.I == 0,
                "cubic_coeff_a" or "nearest_mode" or "extrapolation_value" or "keep_aspect_ratio_policy" => true, // unused by linear with scales
                _ => false,
            };
            if (!ok) return false;
        }
        return resize.Attribute.Any(a => a.Name == "mode" && a.S.ToStringUtf8() == "linear")
            && resize.Attribute.Any(a => a.Name == "coordinate_transformation_mode");
    }

    private static bool ChannelAxis(NodeProto concat) => concat.Attribute.FirstOrDefault(a => a.Name == "axis") is { I: 1 };

    /// <summary>
    /// Removes the Shape/Slice nodes whose outputs nothing reads any more (the crop's ends), then the initializers
    /// nothing reads: ORT warns about unused initializers on every session, and the fused file should not carry them.
    /// </summary>
    internal static void RemoveDead(GraphProto graph, List<NodeProto> nodes, HashSet<string> outputs)
    {
        bool changed = true;
        while (changed)
        {
            changed = false;
            var readers = Readers(nodes);
            foreach (var dead in nodes.Where(n => n.OpType is "Shape" or "Slice" && n.Domain.Length == 0
                         && n.Output.All(o => readers.GetValueOrDefault(o) == 0 && !outputs.Contains(o))).ToList())
            {
                nodes.Remove(dead);
                changed = true;
            }
        }
        // An initializer listed as an input stays (IR < 4 style).
        GraphQueries.RemoveUnreadInitializers(graph, nodes, graph.Initializer.Select(t => t.Name).ToList());
    }

    /// <summary>How many node inputs read each tensor: <paramref name="nodes"/> and every sub-graph below them (If branches read outer tensors).</summary>
    internal static Dictionary<string, int> Readers(IEnumerable<NodeProto> nodes)
    {
        var readers = new Dictionary<string, int>();
        void Count(IEnumerable<NodeProto> list)
        {
            foreach (var node in list)
            {
                foreach (var i in node.Input)
                    if (i.Length > 0) readers[i] = readers.GetValueOrDefault(i) + 1;
                foreach (var a in node.Attribute)
                {
                    if (a.G is { } g) Count(g.Node);
                    foreach (var sub in a.Graphs) Count(sub.Node);
                }
            }
        }
        Count(nodes);
        return readers;
    }

    private static string Add(List<NodeProto> nodes, string opType, string name, IEnumerable<string> inputs, bool axis = false)
    {
        var node = GraphQueries.StandardNode(opType, name, inputs, name);
        if (axis) node.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        nodes.Add(node);
        return name;
    }

}
