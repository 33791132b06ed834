using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// A pass of <see cref="GlueFusion"/>: a folded sparse conv (<see cref="SparseFusion"/>) gets its input packed by the
/// op that makes it. Where a glue's
/// SparseX is made by an <c>Upsample2xConcat</c> or a <c>ShortcutRPReLU</c> (SHB's block input: decode0's
/// concatenation, its first glue's output), that op also writes YPackedSecond against the sparse conv's τ (attribute
/// <c>tau_second</c>, input TauSecond) while each row is in L1, and the glue reads it as SparseXPacked instead of
/// packing SparseX. The float tensor's other readers are then the folded 1×1 convs' glues, which read only its shape,
/// so the pass after (<see cref="UnreadFloatFusion"/>) leaves it unwritten: at 512×288 decode0 writes neither its
/// 35-plane concatenation (20.6 MB) nor its first glue's 16 planes (9.4 MB). The same bits: the whole plane packed
/// against τ holds the bits the glue packed where active outputs read them. An <c>Upsample2xConcat</c> so handing its bits
/// also takes the sparse conv's mask as its last input (attribute <c>second_mask_scale</c>) and packs the second τ only
/// where the mask's active outputs read it (<see cref="MaskedCount"/>).
/// </summary>
/// <remarks>
/// Only where the producer has no second packed output yet. <see cref="Restore"/> is the inverse, which <see cref="GlueFusion.Unfuse"/> runs first. The second packed output is
/// named after the float tensor (<c>t + ".packed_second"</c>), which is how Restore finds SparseX again.
/// </remarks>
public static class SparseHandOffFusion
{
    /// <summary>Suffix of a second packed output: the float tensor's name + this.</summary>
    public const string Suffix = ".packed_second";

    /// <summary>How many glue nodes of <paramref name="model"/> (main graph and If branches) read their sparse conv's input packed by the op before.</summary>
    public static int Count(ModelProto model) =>
        GraphQueries.WithSubgraphs(model.Graph).Sum(g => g.Node.Count(n => SparseFusion.IsFolded(n) && Input(n, BinaryConvSchema.ActivationSparseXPacked).Length > 0));

    /// <summary>How many nodes of <paramref name="model"/> that write a second packed output write no float Y (this pass's and <see cref="UnreadFloatFusion"/>'s).</summary>
    public static int BitsOnly(ModelProto model) =>
        GraphQueries.WithSubgraphs(model.Graph).Sum(g => g.Node.Count(n => n.Domain == BinaryConvSchema.Domain
            && n.OpType is BinaryConvSchema.Upsample2xConcat or BinaryConvSchema.ShortcutRPReLU && n.Output.Count > 0 && n.Output[0].Length == 0
            && n.Output.Any(o => o.EndsWith(Suffix, StringComparison.Ordinal))));

    private static string Input(NodeProto node, int i) => node.Input.Count > i ? node.Input[i] : "";

    /// <summary>Rewrites <paramref name="nodes"/> (a graph's, in place); returns how many sparse convs now read packed input.</summary>
    internal static int Apply(List<NodeProto> nodes, IReadOnlyDictionary<string, TensorProto> initializers)
    {
        var (_, producers) = GraphQueries.ReadersAndProducers(nodes);
        int handed = 0;
        foreach (var glue in nodes.Where(n => SparseFusion.IsFolded(n) && Input(n, BinaryConvSchema.ActivationSparseXPacked).Length == 0))
        {
            string t = Input(glue, BinaryConvSchema.ActivationSparseX);
            string tau = Input(glue, BinaryConvSchema.ActivationSparseTau);
            if (t.Length == 0 || !producers.TryGetValue(t, out var producer) || producer.Domain != BinaryConvSchema.Domain || producer.Output[0] != t) continue;
            if (!initializers.TryGetValue(tau, out var tauTensor) || Tensors.FloatValues(tauTensor) is not { } tauValues) continue;
            string packed = t + Suffix;
            if (producer.OpType == BinaryConvSchema.Upsample2xConcat)
            {
                if (producer.Output.Count > BinaryConvSchema.SecondPackedOutput && producer.Output[BinaryConvSchema.SecondPackedOutput].Length > 0) continue;
                new NodeBuilder(producer).Attribute(BinaryConvSchema.TauSecond, tauValues);
                GraphQueries.SetAt(producer.Output, BinaryConvSchema.SecondPackedOutput, packed);
            }
            else if (producer.OpType == BinaryConvSchema.ShortcutRPReLU)
            {
                if (Input(producer, BinaryConvSchema.ActivationTauSecond).Length > 0) continue;
                GraphQueries.SetAt(producer.Input, BinaryConvSchema.ActivationTauSecond, tau);
                GraphQueries.SetAt(producer.Output, BinaryConvSchema.ActivationSecondPackedOutput, packed);
            }
            else continue;
            glue.Input[BinaryConvSchema.ActivationSparseX] = "";
            GraphQueries.SetAt(glue.Input, BinaryConvSchema.ActivationSparseXPacked, packed);
            handed++;
        }
        return handed + WireMasks(nodes);
    }

    /// <summary>
    /// Gives each Upsample2xConcat whose second packed output only a folded sparse conv reads that conv's mask (its last
    /// input, attribute <c>second_mask_scale</c>): the op then packs the second τ only where the conv's active outputs
    /// read it (docs/model-contract.md). Where the mask's last node comes after the op in the graph's order it is moved
    /// before it if its inputs allow (decode3's), and otherwise nothing changes.
    /// Returns how many it gave a mask.
    /// </summary>
    private static int WireMasks(List<NodeProto> nodes)
    {
        var (readers, producers) = GraphQueries.ReadersAndProducers(nodes);
        int wired = 0;
        foreach (var glue in nodes.Where(n => SparseFusion.IsFolded(n)).ToList())
        {
            string packed = Input(glue, BinaryConvSchema.ActivationSparseXPacked), mask = Input(glue, BinaryConvSchema.ActivationSparseMask);
            if (!packed.EndsWith(Suffix, StringComparison.Ordinal) || mask.Length == 0 || readers.GetValueOrDefault(packed) != 1) continue;
            if (!producers.TryGetValue(packed, out var concat) || concat.OpType != BinaryConvSchema.Upsample2xConcat || concat.Domain != BinaryConvSchema.Domain) continue;
            if (concat.Attribute.Any(a => a.Name == BinaryConvSchema.SecondMaskScale)) continue;
            if (GraphQueries.Int(glue, BinaryConvSchema.ActivationSparseMaskScale) is not { } scale) continue;
            if (producers.TryGetValue(mask, out var maker) && nodes.IndexOf(maker) > nodes.IndexOf(concat))
            {
                // The mask's last node comes after the concatenation (decode3's: the Cast to uint8): moved before it where
                // its own inputs are made before it, else the concatenation keeps packing everything.
                int at = nodes.IndexOf(concat);
                if (!maker.Input.All(i => i.Length == 0 || !producers.TryGetValue(i, out var before) || nodes.IndexOf(before) < at)) continue;
                nodes.Remove(maker);
                nodes.Insert(nodes.IndexOf(concat), maker);
            }
            concat.Input.Add(mask);
            new NodeBuilder(concat).Attribute(BinaryConvSchema.SecondMaskScale, scale);
            wired++;
        }
        return wired;
    }

    /// <summary>How many Upsample2xConcat nodes of <paramref name="model"/> (any graph) pack their second τ only where the sparse conv's mask needs it.</summary>
    public static int MaskedCount(ModelProto model) =>
        GraphQueries.WithSubgraphs(model.Graph).Sum(g => g.Node.Count(n => n.OpType == BinaryConvSchema.Upsample2xConcat && n.Domain == BinaryConvSchema.Domain
            && n.Attribute.Any(a => a.Name == BinaryConvSchema.SecondMaskScale)));

    /// <summary>
    /// The inverse, in place on <paramref name="model"/> (main graph and If branches): every float Y named again
    /// (<see cref="UnreadFloatFusion.Restore"/>), SparseX read again, and the second packed outputs, their τ and
    /// SparseXPacked are gone.
    /// </summary>
    public static void Restore(ModelProto model)
    {
        // The sparse convs read SparseX again: the float tensors left unwritten are named and written again first.
        UnreadFloatFusion.Restore(model);
        foreach (var graph in GraphQueries.WithSubgraphs(model.Graph).ToList())
        {
            foreach (var node in graph.Node.Where(n => n.Domain == BinaryConvSchema.Domain).ToList())
            {
                int second = node.OpType == BinaryConvSchema.Upsample2xConcat ? BinaryConvSchema.SecondPackedOutput
                    : node.OpType == BinaryConvSchema.ShortcutRPReLU ? BinaryConvSchema.ActivationSecondPackedOutput : -1;
                if (second < 0 || node.Output.Count <= second || !node.Output[second].EndsWith(Suffix, StringComparison.Ordinal)) continue;
                node.Output[second] = "";
                GraphQueries.TrimEmpty(node.Output, 1);
                if (node.OpType == BinaryConvSchema.Upsample2xConcat)
                {
                    // The mask went in as the last input with second_mask_scale: both go with the second output.
                    if (node.Attribute.Any(a => a.Name == BinaryConvSchema.SecondMaskScale)) node.Input.RemoveAt(node.Input.Count - 1);
                    foreach (var a in node.Attribute.Where(a => a.Name is BinaryConvSchema.TauSecond or BinaryConvSchema.SecondMaskScale).ToList()) node.Attribute.Remove(a);
                }
                else
                {
                    node.Input[BinaryConvSchema.ActivationTauSecond] = "";
                    GraphQueries.TrimEmpty(node.Input, BinaryConvSchema.ActivationShiftOut + 1);
                }
            }
            foreach (var glue in graph.Node.Where(n => n.OpType == BinaryConvSchema.ShortcutRPReLU && n.Domain == BinaryConvSchema.Domain))
            {
                string packed = Input(glue, BinaryConvSchema.ActivationSparseXPacked);
                if (packed.EndsWith(Suffix, StringComparison.Ordinal))
                {
                    glue.Input[BinaryConvSchema.ActivationSparseX] = packed[..^Suffix.Length];
                    glue.Input[BinaryConvSchema.ActivationSparseXPacked] = "";
                    GraphQueries.TrimEmpty(glue.Input, BinaryConvSchema.ActivationShiftOut + 1);
                }
            }
        }
    }
}
