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
/// against τ holds the bits the glue packed where active outputs read them.
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
        return handed;
    }

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
                    foreach (var a in node.Attribute.Where(a => a.Name == BinaryConvSchema.TauSecond).ToList()) node.Attribute.Remove(a);
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
