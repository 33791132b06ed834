using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// The pass of <see cref="GlueFusion"/> that folds a 1×1 <c>BinaryConv2d</c> into the <c>ShortcutRPReLU</c> that is its
/// only reader (SHB's dense 1×1 in every decoder block, whose glue normalizes it, adds the sparse 3×3 and applies
/// RPReLU): the glue gets the conv's W, alpha, tau, bias and packed input as PointwiseW … PointwiseXPacked and the
/// conv's input as its X, and the conv goes (docs/model-contract.md, "ShortcutRPReLU"). The glue then computes the
/// conv's output rows from the packed bits where it needs them, so the full-size float tensor between the two is
/// never written nor read back (at 512×288 the decoder's last block wrote and read 9.4 MB per such pair). The conv's
/// arithmetic, so the same bits as the two nodes, except where the glue folds an InstanceNormalization: its
/// statistics then come from the exact integer moments of the dots instead of a float64 pass over the rounded plane
/// (within float rounding; docs/model-contract.md).
/// </summary>
/// <remarks>
/// Folded only where the conv is 1×1 with stride, dilation and group 1 and no padding, reads one packed word per
/// pixel (Cin ≤ 64), already takes its input packed (XPacked, from the packed hand-off that runs before this pass),
/// its constants are initializers, and its output is the glue's X (or its Addend, added unscaled and unmapped to an
/// X that is not normalized: the two swap places, the sum is the same), read by nothing else and not a graph output
/// (a test that exposes a binary conv's output keeps the conv).
/// </remarks>
public static class PointwiseFusion
{
    /// <summary>How many ShortcutRPReLU nodes of <paramref name="model"/> (main graph and If branches) compute a folded 1×1 binary conv.</summary>
    public static int Count(ModelProto model) => GraphQueries.WithSubgraphs(model.Graph).Sum(g => g.Node.Count(IsFolded));

    /// <summary>Whether a node is a ShortcutRPReLU with a folded 1×1 binary conv.</summary>
    public static bool IsFolded(NodeProto node) =>
        node.OpType == BinaryConvSchema.ShortcutRPReLU && node.Domain == BinaryConvSchema.Domain
        && node.Input.Count > BinaryConvSchema.ActivationPointwiseW && node.Input[BinaryConvSchema.ActivationPointwiseW].Length > 0;

    /// <summary>Folds every eligible conv in <paramref name="nodes"/> into its glue (rewritten in place); returns how many.</summary>
    internal static int Apply(List<NodeProto> nodes, IReadOnlyDictionary<string, TensorProto> initializers, ISet<string> graphOutputs)
    {
        var (readers, producers) = GraphQueries.ReadersAndProducers(nodes);
        var folded = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        // The conv producing tensor t, if it can be folded into a glue that is t's only reader.
        NodeProto? Foldable(string t)
        {
            if (t.Length == 0 || readers.GetValueOrDefault(t) != 1 || graphOutputs.Contains(t)) return null;
            if (!producers.TryGetValue(t, out var conv) || conv is not { OpType: BinaryConvSchema.BinaryConv2d, Domain: BinaryConvSchema.Domain }) return null;
            string Input(int i) => GraphQueries.InputAt(conv, i);
            if (Input(BinaryConvSchema.InputXPacked).Length == 0 || !ProjectionFusion.IsPlainPointwise(conv)) return null;
            if (!initializers.TryGetValue(Input(BinaryConvSchema.InputW), out var w) || w.Dims.Count != 4 || w.Dims[1] != 1 || w.Dims[2] != 1 || w.Dims[3] != 1) return null;
            if (!initializers.TryGetValue(Input(BinaryConvSchema.InputTau), out var tau) || tau.Dims.Count != 1 || tau.Dims[0] is < 1 or > 64) return null;
            if (!initializers.ContainsKey(Input(BinaryConvSchema.InputAlpha))) return null;
            string bias = Input(BinaryConvSchema.InputBias);
            return bias.Length > 0 && !initializers.ContainsKey(bias) ? null : conv;
        }

        foreach (var glue in nodes.Where(n => n is { OpType: BinaryConvSchema.ShortcutRPReLU, Domain: BinaryConvSchema.Domain } && !IsFolded(n)))
        {
            string GlueInput(int i) => GraphQueries.InputAt(glue, i);
            var conv = Foldable(glue.Input[BinaryConvSchema.ActivationX]);
            // X + Addend is Addend + X bit for bit when the Addend is added as it is (no scale, no channel map, no
            // normalization of X): then a conv at the Addend (SHB's sum as the batch-normalized export writes it,
            // sparse 3×3 + dense 1×1) is folded as X, and the other operand becomes the Addend.
            if (conv is null && GlueInput(BinaryConvSchema.ActivationAddendScale).Length == 0 && GlueInput(BinaryConvSchema.ActivationNormScale).Length == 0
                && !glue.Attribute.Any(a => a.Name is BinaryConvSchema.ActivationAddendRepeat or BinaryConvSchema.ActivationAddendChunks && a.I != 1)
                && Foldable(GlueInput(BinaryConvSchema.ActivationAddend)) is { } atAddend)
            {
                conv = atAddend;
                (glue.Input[BinaryConvSchema.ActivationX], glue.Input[BinaryConvSchema.ActivationAddend]) = (glue.Input[BinaryConvSchema.ActivationAddend], glue.Input[BinaryConvSchema.ActivationX]);
            }
            if (conv is null) continue;
            string Input(int i) => GraphQueries.InputAt(conv, i);
            var w = initializers[Input(BinaryConvSchema.InputW)];
            var tau = initializers[Input(BinaryConvSchema.InputTau)];
            string bias = Input(BinaryConvSchema.InputBias);
            while (glue.Input.Count <= BinaryConvSchema.ActivationPointwiseXPacked) glue.Input.Add("");
            glue.Input[BinaryConvSchema.ActivationX] = Input(BinaryConvSchema.InputX);
            glue.Input[BinaryConvSchema.ActivationPointwiseW] = w.Name;
            glue.Input[BinaryConvSchema.ActivationPointwiseAlpha] = Input(BinaryConvSchema.InputAlpha);
            glue.Input[BinaryConvSchema.ActivationPointwiseTau] = tau.Name;
            glue.Input[BinaryConvSchema.ActivationPointwiseBias] = bias;
            glue.Input[BinaryConvSchema.ActivationPointwiseXPacked] = Input(BinaryConvSchema.InputXPacked);
            folded.Add(conv);
        }
        // The conv's inputs exist before it and the glue comes after it: removing the conv keeps the order.
        nodes.RemoveAll(folded.Contains);
        return folded.Count;
    }

    /// <summary>
    /// The conv written back before a glue node that folds one (<see cref="GlueFusion.Unfuse"/>, <see cref="Unfold"/>): a
    /// <c>BinaryConv2d</c> reading the glue's X and XPacked and writing <paramref name="name"/>.pointwise, which becomes the glue's X.
    /// </summary>
    internal static void Unfold(List<NodeProto> nodes, NodeProto glue, string name)
    {
        var conv = new NodeProto { OpType = BinaryConvSchema.BinaryConv2d, Domain = BinaryConvSchema.Domain, Name = name + ".pointwise" };
        conv.Input.AddRange([glue.Input[BinaryConvSchema.ActivationX], glue.Input[BinaryConvSchema.ActivationPointwiseW], glue.Input[BinaryConvSchema.ActivationPointwiseAlpha],
            glue.Input[BinaryConvSchema.ActivationPointwiseTau], glue.Input[BinaryConvSchema.ActivationPointwiseBias], "", glue.Input[BinaryConvSchema.ActivationPointwiseXPacked]]);
        conv.Output.Add(conv.Name);
        new NodeBuilder(conv).Attribute(BinaryConvSchema.KernelShape, 1L, 1L).Attribute(BinaryConvSchema.Strides, 1L, 1L)
            .Attribute(BinaryConvSchema.Pads, 0L, 0L, 0L, 0L).Attribute(BinaryConvSchema.Dilations, 1L, 1L).Attribute(BinaryConvSchema.Group, 1L);
        nodes.Add(conv);
        glue.Input[BinaryConvSchema.ActivationX] = conv.Output[0];
        for (int i = BinaryConvSchema.ActivationPointwiseW; i <= BinaryConvSchema.ActivationPointwiseXPacked; i++) glue.Input[i] = "";
        GraphQueries.TrimEmpty(glue.Input, BinaryConvSchema.ActivationShiftOut + 1);
    }

    /// <summary>
    /// A copy of <paramref name="model"/> with every folded conv written back as a <c>BinaryConv2d</c> node before its glue
    /// (packed hand-offs and everything else kept): the two-node form the fold must reproduce bit for bit.
    /// </summary>
    public static ModelProto Unfolded(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return GraphQueries.Unfolded(model, IsFolded, Unfold);
    }
}
