using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// A late pass of <see cref="GlueFusion"/> (before <see cref="OutputIdentityFusion"/>): where a <c>ShortcutRPReLU</c>'s Y is read only by a <c>Split</c> on the
/// channel axis into two equal halves (the ConvGRU's split of a decoder block's output into the half that passes and
/// the half the GRU reads: decode1 to decode3 in the shipped bivm), the glue writes the two halves itself (attribute
/// <c>y_split</c>, outputs Y and YRest) and the Split goes: each value is written once where it is computed, instead
/// of written whole and copied into two tensors by ONNX Runtime (decode1's copy alone: 4.7 MB a 512×288 frame). The
/// same values. <see cref="Restore"/> is the inverse, which <see cref="GlueFusion.Unfuse"/> and the Unfolded copies
/// run first.
/// </summary>
/// <remarks>
/// Only where the glue writes Y alone (no YPacked, YPackedSecond or Projected, which read Y whole), Y is no graph
/// output and read in no If branch, the Split has two outputs and axis 1, and its sizes are C / 2 twice (its 'split'
/// input a constant [C / 2, C / 2], or absent), C being the glue's channel count (ShiftIn's).
/// </remarks>
public static class YSplitFusion
{
    /// <summary>How many ShortcutRPReLU nodes of <paramref name="model"/> (main graph and If branches) write Y in two halves.</summary>
    public static int Count(ModelProto model) => GraphQueries.WithSubgraphs(model.Graph).Sum(g => g.Node.Count(IsSplitting));

    /// <summary>Whether a node is a ShortcutRPReLU writing Y in two (attribute y_split).</summary>
    public static bool IsSplitting(NodeProto node) =>
        node.OpType == BinaryConvSchema.ShortcutRPReLU && node.Domain == BinaryConvSchema.Domain && node.Attribute.Any(a => a.Name == BinaryConvSchema.ActivationYSplit);

    /// <summary>Rewrites <paramref name="nodes"/> (a graph's, in place); returns how many Splits went into their glue.</summary>
    internal static int Apply(List<NodeProto> nodes, GraphProto graph, IReadOnlyDictionary<string, TensorProto> initializers, ISet<string> graphOutputs)
    {
        var branchReads = GraphQueries.BranchReads(graph);
        var (readers, producers) = GraphQueries.ReadersAndProducers(nodes);
        var removed = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        foreach (var split in nodes.Where(n => n is { OpType: "Split", Domain: "" } && n.Output.Count == 2 && n.Input.Count >= 1).ToList())
        {
            string y = split.Input[0];
            if (readers.GetValueOrDefault(y) != 1 || graphOutputs.Contains(y) || branchReads.Contains(y)) continue;
            if (!producers.TryGetValue(y, out var glue) || glue is not { OpType: BinaryConvSchema.ShortcutRPReLU, Domain: BinaryConvSchema.Domain } || IsSplitting(glue)) continue;
            if (glue.Output[BinaryConvSchema.ActivationOutput] != y || glue.Output.Skip(1).Any(o => o.Length > 0)) continue;
            if (split.Attribute.FirstOrDefault(a => a.Name == "axis") is not { I: 1 }) continue;
            if (!initializers.TryGetValue(glue.Input[BinaryConvSchema.ActivationShiftIn], out var shiftIn)) continue;
            long channels = shiftIn.Dims.Aggregate(1L, (a, d) => a * d);
            if (channels < 2 || channels % 2 != 0) continue;
            string sizes = split.Input.Count > 1 ? split.Input[1] : "";
            if (sizes.Length > 0 && !(initializers.TryGetValue(sizes, out var t) && Tensors.Int64Values(t) is [var first, var second] && first == channels / 2 && second == channels / 2)) continue;
            GraphQueries.SetAt(glue.Output, BinaryConvSchema.ActivationOutput, split.Output[0]);
            GraphQueries.SetAt(glue.Output, BinaryConvSchema.ActivationRestOutput, split.Output[1]);
            glue.Attribute.Add(new AttributeProto { Name = BinaryConvSchema.ActivationYSplit, Type = AttributeProto.Types.AttributeType.Int, I = channels / 2 });
            removed.Add(split);
        }
        nodes.RemoveAll(removed.Contains);
        // The split sizes only the removed Splits read: ORT warns about unused initializers.
        GraphQueries.RemoveUnreadInitializers(graph, nodes, removed.SelectMany(n => n.Input.Skip(1)).Where(initializers.ContainsKey));
        return removed.Count;
    }

    /// <summary>
    /// The inverse, in place on <paramref name="model"/> (main graph and If branches): each glue writing Y in two halves
    /// writes Y whole again (named after the glue: its name + ".y_whole") and a Split on axis 1 into two equal halves
    /// (no sizes input; num_outputs from opset 18) makes the two tensors its readers read. Runs
    /// <see cref="GruHandOffFusion.Restore"/> first.
    /// </summary>
    public static void Restore(ModelProto model)
    {
        GruHandOffFusion.Restore(model); // YRest written as floats again, where a ConvGru took its bits
        long opset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max();
        foreach (var graph in GraphQueries.WithSubgraphs(model.Graph).ToList())
        {
            var rewritten = new List<NodeProto>();
            foreach (var node in graph.Node)
            {
                rewritten.Add(node);
                if (!IsSplitting(node)) continue;
                string name = node.Name.Length > 0 ? node.Name : node.Output[0];
                var split = new NodeProto { OpType = "Split", Name = name + ".y_split" };
                split.Input.Add(name + ".y_whole");
                split.Output.AddRange([node.Output[BinaryConvSchema.ActivationOutput], node.Output[BinaryConvSchema.ActivationRestOutput]]);
                split.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
                if (opset >= 18) split.Attribute.Add(new AttributeProto { Name = "num_outputs", Type = AttributeProto.Types.AttributeType.Int, I = 2 });
                rewritten.Add(split);
                node.Output[BinaryConvSchema.ActivationOutput] = split.Input[0];
                node.Output[BinaryConvSchema.ActivationRestOutput] = "";
                GraphQueries.TrimEmpty(node.Output, BinaryConvSchema.ActivationOutput + 1);
                node.Attribute.Remove(node.Attribute.First(a => a.Name == BinaryConvSchema.ActivationYSplit));
            }
            graph.Node.Clear();
            graph.Node.AddRange(rewritten);
        }
    }
}
