using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// The pass of <see cref="GlueFusion"/> that folds an <c>InstanceNormalization</c> into the <c>ShortcutRPReLU</c> that
/// reads it: the binary conv's output, normalized per frame and channel (the <c>frame</c> normalization), is what
/// RPReLU and the shortcut take next. The node gets the normalization's scale and bias as NormScale and NormBias, its
/// epsilon as an attribute, and the normalization's input as X; the InstanceNormalization node goes.
/// </summary>
/// <remarks>
/// <para>Where the normalized tensor is the glue's Addend rather than its X (SHB: Add(sparse 3×3, normalized 1×1)),
/// with no AddendScale, the two are swapped first: t = x + a is the same float as a + x.</para>
/// <para>Unlike the rest of <see cref="GlueFusion"/> this fold is not bit-exact: the fused kernel takes the statistics
/// in float64 (src/CustomOps/Activation/FrameNormalization.cs), ONNX Runtime in its own float32 reduction order, which
/// a kernel cannot reproduce. The values agree to float rounding, and the packed sign bits the op hands to the next
/// binary conv are taken from its own output, so the fused model is consistent with itself (docs/export.md, "Fusion").</para>
/// <para>Folded only where the normalization's output has that one consumer (none in an If branch either) and is not a
/// graph output, its scale and bias are initializers with the glue's C values, and its input is not an initializer.</para>
/// </remarks>
internal static class InstanceNormFusion
{
    /// <summary>Folds every eligible InstanceNormalization in <paramref name="nodes"/> (rewritten in place); returns how many.</summary>
    public static int Apply(List<NodeProto> nodes, GraphProto graph, IReadOnlyDictionary<string, TensorProto> initializers)
    {
        var consumers = new Dictionary<string, int>();
        foreach (var node in nodes)
        {
            foreach (var i in node.Input) consumers[i] = consumers.GetValueOrDefault(i) + 1;
            foreach (var name in SubgraphReads(node)) consumers[name] = consumers.GetValueOrDefault(name) + 2; // never private
        }
        foreach (var o in graph.Output) consumers[o.Name] = consumers.GetValueOrDefault(o.Name) + 2;
        var producers = new Dictionary<string, NodeProto>();
        foreach (var node in nodes)
            foreach (var o in node.Output) producers[o] = node;

        NodeProto? Norm(string tensor, long channels) =>
            tensor.Length > 0 && consumers.GetValueOrDefault(tensor) == 1 && producers.TryGetValue(tensor, out var n)
            && n is { OpType: "InstanceNormalization", Domain: "" } && n.Input.Count == 3 && n.Output.Count == 1
            && !initializers.ContainsKey(n.Input[0])
            && initializers.TryGetValue(n.Input[1], out var scale) && Channels(scale) == channels
            && initializers.TryGetValue(n.Input[2], out var bias) && Channels(bias) == channels
            && n.Attribute.All(a => a.Name == "epsilon" && a.Type == AttributeProto.Types.AttributeType.Float)
                ? n : null;

        var folded = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        foreach (var glue in nodes.Where(n => n.OpType == BinaryConvSchema.ShortcutRPReLU && n.Domain == BinaryConvSchema.Domain))
        {
            string Input(int i) => glue.Input.Count > i ? glue.Input[i] : "";
            if (Input(BinaryConvSchema.ActivationNormScale).Length > 0) continue;
            if (!initializers.TryGetValue(Input(BinaryConvSchema.ActivationShiftIn), out var shiftIn)) continue;
            long channels = GlueFusion.Channels(shiftIn);
            var norm = Norm(Input(BinaryConvSchema.ActivationX), channels);
            if (norm is null && Input(BinaryConvSchema.ActivationAddendScale).Length == 0 && Norm(Input(BinaryConvSchema.ActivationAddend), channels) is { } addendNorm)
            {
                // x + a = a + x exactly: the normalized operand becomes X.
                (glue.Input[BinaryConvSchema.ActivationX], glue.Input[BinaryConvSchema.ActivationAddend]) = (Input(BinaryConvSchema.ActivationAddend), Input(BinaryConvSchema.ActivationX));
                norm = addendNorm;
            }
            if (norm is null) continue;
            while (glue.Input.Count <= BinaryConvSchema.ActivationNormBias) glue.Input.Add("");
            glue.Input[BinaryConvSchema.ActivationX] = norm.Input[0];
            glue.Input[BinaryConvSchema.ActivationNormScale] = norm.Input[1];
            glue.Input[BinaryConvSchema.ActivationNormBias] = norm.Input[2];
            glue.Attribute.Add(new AttributeProto
            {
                Name = BinaryConvSchema.ActivationNormEpsilon,
                Type = AttributeProto.Types.AttributeType.Float,
                F = Epsilon(norm),
            });
            folded.Add(norm);
        }
        // The glue comes after its normalization and the normalization's input before it: removing keeps the order.
        nodes.RemoveAll(folded.Contains);
        return folded.Count;
    }

    /// <summary>The InstanceNormalization written back in front of a glue node that carries one (<see cref="GlueFusion.Unfuse"/>); returns X's new name.</summary>
    public static string Unfold(List<NodeProto> nodes, NodeProto glue, string name, IReadOnlyDictionary<string, TensorProto> initializers)
    {
        string scale = glue.Input[BinaryConvSchema.ActivationNormScale];
        string bias = glue.Input.Count > BinaryConvSchema.ActivationNormBias ? glue.Input[BinaryConvSchema.ActivationNormBias] : "";
        foreach (var input in new[] { scale, bias })
            if (!initializers.TryGetValue(input, out var t) || t.Dims.Count != 1)
                throw new ArgumentException($"{name}: input '{input}' must be a 1-D initializer (InstanceNormalization's scale and B) to unfuse", nameof(glue));
        var epsilon = glue.Attribute.FirstOrDefault(a => a.Name == BinaryConvSchema.ActivationNormEpsilon);
        var norm = new NodeProto { OpType = "InstanceNormalization", Name = name + ".norm" };
        norm.Input.AddRange([glue.Input[BinaryConvSchema.ActivationX], scale, bias]);
        norm.Output.Add(name + ".norm");
        norm.Attribute.Add(new AttributeProto { Name = "epsilon", Type = AttributeProto.Types.AttributeType.Float, F = epsilon?.F ?? DefaultEpsilon });
        nodes.Add(norm);
        return norm.Output[0];
    }

    /// <summary>ONNX InstanceNormalization's default epsilon.</summary>
    private const float DefaultEpsilon = 1e-5f;

    private static float Epsilon(NodeProto norm) => norm.Attribute.FirstOrDefault(a => a.Name == "epsilon")?.F ?? DefaultEpsilon;

    private static long Channels(TensorProto t) => t.Dims.Count == 1 ? GlueFusion.Channels(t) : -1;

    /// <summary>Every name a node's subgraphs (If branches, Loop bodies) read, at any depth: outer-scope values included.</summary>
    private static IEnumerable<string> SubgraphReads(NodeProto node)
    {
        foreach (var attribute in node.Attribute)
            foreach (var g in attribute.G is null ? attribute.Graphs : attribute.Graphs.Prepend(attribute.G))
                foreach (var inner in g.Node)
                {
                    foreach (var i in inner.Input) yield return i;
                    foreach (var name in SubgraphReads(inner)) yield return name;
                }
    }
}
