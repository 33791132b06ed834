using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// The pass of <see cref="GlueFusion"/> that folds a <c>ShortcutSum</c> into the <c>ShortcutRPReLU</c> whose Y is the
/// sum's X and is read by nothing else (each EBB's last RPReLU and the scaled shortcuts added after it, the exporter's
/// <c>add_c2</c> and <c>add_b</c>): the glue gets the sum's terms as inputs 24 … and its scales and repeats as
/// <c>sum_scales</c> and <c>sum_repeats</c>, writes the sum's output, and the sum goes (docs/model-contract.md,
/// "ShortcutRPReLU"). The glue adds the terms to each stretch of Y while it is in cache, so the glue's own Y is neither
/// written nor read back (at 512×288 block 0's is 2.4 MB each way). ShortcutSum's arithmetic: the same bits as the two nodes.
/// </summary>
/// <remarks>
/// Folded only where the glue writes Y alone (no packed, projected or split output: those would read the glue's own Y),
/// Y is not a graph output, the sum has at most <see cref="BinaryConvSchema.ActivationMaxSumTerms"/> terms, and no
/// term is the glue's X (which ONNX Runtime may give Y's buffer). The glue takes the sum's place in the node order,
/// after every term's producer. Runs after the packed hand-offs, so a folded glue hands no bits to the sum's binary
/// reader, as ShortcutSum did not (docs/export.md).
/// </remarks>
public static class TrailingSumFusion
{
    /// <summary>How many ShortcutRPReLU nodes of <paramref name="model"/> (main graph and If branches) add a folded sum.</summary>
    public static int Count(ModelProto model) => GraphQueries.WithSubgraphs(model.Graph).Sum(g => g.Node.Count(IsFolded));

    /// <summary>Whether a node is a ShortcutRPReLU with a folded ShortcutSum.</summary>
    public static bool IsFolded(NodeProto node) =>
        node.OpType == BinaryConvSchema.ShortcutRPReLU && node.Domain == BinaryConvSchema.Domain
        && node.Input.Count > BinaryConvSchema.ActivationSumTerms && node.Input[BinaryConvSchema.ActivationSumTerms].Length > 0;

    /// <summary>Folds every eligible sum in <paramref name="nodes"/> into its glue (rewritten in place); returns how many.</summary>
    internal static int Apply(List<NodeProto> nodes, ISet<string> graphOutputs)
    {
        var (readers, producers) = GraphQueries.ReadersAndProducers(nodes);
        var moved = new Dictionary<NodeProto, NodeProto>(ReferenceEqualityComparer.Instance); // sum → the glue that takes its place
        foreach (var sum in nodes.Where(n => n is { OpType: BinaryConvSchema.ShortcutSum, Domain: BinaryConvSchema.Domain }))
        {
            string y = sum.Input[0];
            var terms = sum.Input.Skip(1).ToList();
            if (terms.Count is < 1 or > BinaryConvSchema.ActivationMaxSumTerms || readers.GetValueOrDefault(y) != 1 || graphOutputs.Contains(y)) continue;
            if (!producers.TryGetValue(y, out var glue) || glue is not { OpType: BinaryConvSchema.ShortcutRPReLU, Domain: BinaryConvSchema.Domain } || IsFolded(glue)) continue;
            if (glue.Output.Skip(1).Any(o => o.Length > 0) || glue.Attribute.Any(a => a.Name == BinaryConvSchema.ActivationYSplit)) continue;
            string x = glue.Input[BinaryConvSchema.ActivationX];
            if (x.Length > 0 && terms.Contains(x)) continue;
            var scales = sum.Attribute.FirstOrDefault(a => a.Name == BinaryConvSchema.ShortcutSumScales)?.Floats;
            var repeats = sum.Attribute.FirstOrDefault(a => a.Name == BinaryConvSchema.ShortcutSumRepeats)?.Ints;
            if (scales is null || repeats is null || scales.Count != terms.Count || repeats.Count != terms.Count) continue;
            for (int t = 0; t < terms.Count; t++) GraphQueries.SetAt(glue.Input, BinaryConvSchema.ActivationSumTerms + t, terms[t]);
            new NodeBuilder(glue).Attribute(BinaryConvSchema.ActivationSumScales, scales.ToArray()).Attribute(BinaryConvSchema.ActivationSumRepeats, repeats.ToArray());
            glue.Output[0] = sum.Output[0];
            moved[sum] = glue;
        }
        if (moved.Count == 0) return 0;
        var glues = moved.Values.ToHashSet(ReferenceEqualityComparer.Instance);
        var rewritten = new List<NodeProto>(nodes.Count);
        foreach (var node in nodes)
            if (moved.TryGetValue(node, out var glue)) rewritten.Add(glue);
            else if (!glues.Contains(node)) rewritten.Add(node);
        nodes.Clear();
        nodes.AddRange(rewritten);
        return moved.Count;
    }

    /// <summary>
    /// A copy of <paramref name="model"/> with every folded sum written back as a <c>ShortcutSum</c> node after its glue,
    /// which writes <c>name.y</c> again (everything else kept): the two-node form the fold must reproduce bit for bit.
    /// </summary>
    public static ModelProto Unfolded(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var copy = GraphQueries.WithoutChecksum(model);
        foreach (var graph in GraphQueries.WithSubgraphs(copy.Graph).ToList())
        {
            var rewritten = new List<NodeProto>();
            foreach (var node in graph.Node)
            {
                rewritten.Add(node);
                if (IsFolded(node)) rewritten.Add(Unfold(node));
            }
            graph.Node.Clear();
            graph.Node.AddRange(rewritten);
        }
        return copy;
    }

    /// <summary>The sum taken out of <paramref name="glue"/> (which then writes its own Y, <c>name.y</c>) as the ShortcutSum that reads it.</summary>
    private static NodeProto Unfold(NodeProto glue)
    {
        string name = glue.Name.Length > 0 ? glue.Name : glue.Output[0];
        var sum = new NodeProto { OpType = BinaryConvSchema.ShortcutSum, Domain = BinaryConvSchema.Domain, Name = name + ".sum" };
        sum.Input.Add(name + ".y");
        sum.Input.AddRange(glue.Input.Skip(BinaryConvSchema.ActivationSumTerms).Where(t => t.Length > 0));
        sum.Output.Add(glue.Output[0]);
        var scales = glue.Attribute.First(a => a.Name == BinaryConvSchema.ActivationSumScales);
        var repeats = glue.Attribute.First(a => a.Name == BinaryConvSchema.ActivationSumRepeats);
        new NodeBuilder(sum).Attribute(BinaryConvSchema.ShortcutSumScales, scales.Floats.ToArray()).Attribute(BinaryConvSchema.ShortcutSumRepeats, repeats.Ints.ToArray());
        glue.Attribute.Remove(scales);
        glue.Attribute.Remove(repeats);
        glue.Output[0] = name + ".y";
        while (glue.Input.Count > BinaryConvSchema.ActivationSumTerms) glue.Input.RemoveAt(glue.Input.Count - 1);
        GraphQueries.TrimEmpty(glue.Input, BinaryConvSchema.ActivationShiftOut + 1);
        return sum;
    }
}
