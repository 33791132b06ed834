using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// The pass of <see cref="GlueFusion"/> that folds SHB's masked 3×3 conv (<c>SparseBinaryConv2d</c>) into the
/// <c>ShortcutRPReLU</c> that adds it: the glue gets the conv's X, W, alpha, tau, bias and Mask as SparseX … SparseMask
/// and its mask_scale as attribute sparse_mask_scale, its Addend becomes the empty name, and the conv goes
/// (docs/model-contract.md, "ShortcutRPReLU"). The glue then computes the conv's rows where it adds them: the conv's
/// output, written whole (zeros off the mask) and read back by the glue, is never formed. At 512×288 decode0's two
/// sparse convs wrote and the glue read 9.4 MB each; at a tenth of the mask active that write alone was about a
/// tenth of a dense conv's time (docs/kernels.md, "SHB as time"). The same bits as the two nodes.
/// </summary>
/// <remarks>
/// Folded only where the conv is 3×3 with stride 1, dilation 1, group 1 and pads 1, packs its input itself (no XPacked:
/// the glue packs it where active outputs read it, as the conv does), its constants are initializers, and its output
/// is the glue's Addend, added unscaled and unmapped, read by nothing else and not a graph output. A conv at the glue's
/// X is moved to the Addend first where X is neither normalized nor read by a folded 1×1 conv and the Addend is
/// unscaled and unmapped (x + a = a + x bit for bit).
/// </remarks>
public static class SparseFusion
{
    /// <summary>How many ShortcutRPReLU nodes of <paramref name="model"/> (main graph and If branches) compute a folded sparse conv.</summary>
    public static int Count(ModelProto model) => GraphQueries.WithSubgraphs(model.Graph).Sum(g => g.Node.Count(IsFolded));

    /// <summary>Whether a node is a ShortcutRPReLU with a folded sparse conv.</summary>
    public static bool IsFolded(NodeProto node) =>
        node.OpType == BinaryConvSchema.ShortcutRPReLU && node.Domain == BinaryConvSchema.Domain
        && node.Input.Count > BinaryConvSchema.ActivationSparseW && node.Input[BinaryConvSchema.ActivationSparseW].Length > 0;

    /// <summary>Folds every eligible sparse conv in <paramref name="nodes"/> into its glue (rewritten in place); returns how many.</summary>
    internal static int Apply(List<NodeProto> nodes, IReadOnlyDictionary<string, TensorProto> initializers, ISet<string> graphOutputs)
    {
        var (readers, producers) = GraphQueries.ReadersAndProducers(nodes);
        var folded = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        // The sparse conv producing tensor t, if it can be folded into a glue that is t's only reader.
        NodeProto? Foldable(string t)
        {
            if (t.Length == 0 || readers.GetValueOrDefault(t) != 1 || graphOutputs.Contains(t)) return null;
            if (!producers.TryGetValue(t, out var conv) || conv is not { OpType: BinaryConvSchema.SparseBinaryConv2d, Domain: BinaryConvSchema.Domain }) return null;
            string Input(int i) => GraphQueries.InputAt(conv, i);
            if (Input(BinaryConvSchema.InputXPacked).Length > 0 || Input(BinaryConvSchema.InputMask).Length == 0 || !IsSameSize3x3(conv)) return null;
            if (GraphQueries.Int(conv, BinaryConvSchema.MaskScale) is null) return null;
            if (!initializers.TryGetValue(Input(BinaryConvSchema.InputW), out var w) || w.Dims.Count != 4 || w.Dims[1] != 3 || w.Dims[2] != 3) return null;
            if (!initializers.ContainsKey(Input(BinaryConvSchema.InputTau)) || !initializers.ContainsKey(Input(BinaryConvSchema.InputAlpha))) return null;
            string bias = Input(BinaryConvSchema.InputBias);
            return bias.Length > 0 && !initializers.ContainsKey(bias) ? null : conv;
        }

        foreach (var glue in nodes.Where(n => n is { OpType: BinaryConvSchema.ShortcutRPReLU, Domain: BinaryConvSchema.Domain } && !IsFolded(n)))
        {
            string GlueInput(int i) => GraphQueries.InputAt(glue, i);
            bool plainAddend = GlueInput(BinaryConvSchema.ActivationAddendScale).Length == 0
                && !glue.Attribute.Any(a => a.Name is BinaryConvSchema.ActivationAddendRepeat or BinaryConvSchema.ActivationAddendChunks && a.I != 1);
            if (!plainAddend) continue;
            var conv = Foldable(GlueInput(BinaryConvSchema.ActivationAddend));
            if (conv is null && GlueInput(BinaryConvSchema.ActivationAddend).Length > 0 && GlueInput(BinaryConvSchema.ActivationNormScale).Length == 0
                && !PointwiseFusion.IsFolded(glue) && Foldable(GlueInput(BinaryConvSchema.ActivationX)) is { } atX)
            {
                conv = atX;
                (glue.Input[BinaryConvSchema.ActivationX], glue.Input[BinaryConvSchema.ActivationAddend]) = (glue.Input[BinaryConvSchema.ActivationAddend], glue.Input[BinaryConvSchema.ActivationX]);
            }
            if (conv is null) continue;
            string Input(int i) => GraphQueries.InputAt(conv, i);
            while (glue.Input.Count <= BinaryConvSchema.ActivationSparseMask) glue.Input.Add("");
            glue.Input[BinaryConvSchema.ActivationAddend] = "";
            glue.Input[BinaryConvSchema.ActivationSparseX] = Input(BinaryConvSchema.InputX);
            glue.Input[BinaryConvSchema.ActivationSparseW] = Input(BinaryConvSchema.InputW);
            glue.Input[BinaryConvSchema.ActivationSparseAlpha] = Input(BinaryConvSchema.InputAlpha);
            glue.Input[BinaryConvSchema.ActivationSparseTau] = Input(BinaryConvSchema.InputTau);
            glue.Input[BinaryConvSchema.ActivationSparseBias] = Input(BinaryConvSchema.InputBias);
            glue.Input[BinaryConvSchema.ActivationSparseMask] = Input(BinaryConvSchema.InputMask);
            new NodeBuilder(glue).Attribute(BinaryConvSchema.ActivationSparseMaskScale, GraphQueries.Int(conv, BinaryConvSchema.MaskScale)!.Value);
            folded.Add(conv);
        }
        // The conv's inputs exist before it and the glue comes after it: removing the conv keeps the order.
        nodes.RemoveAll(folded.Contains);
        return folded.Count;
    }

    /// <summary>3×3, stride 1, dilation 1, group 1, pads 1 on every side: the output has the input's size.</summary>
    internal static bool IsSameSize3x3(NodeProto conv)
    {
        bool kernel = false, pads = false;
        foreach (var a in conv.Attribute)
        {
            bool ok = a.Name switch
            {
                BinaryConvSchema.KernelShape => kernel = a.Ints.Count == 2 && a.Ints.All(v => v == 3),
                BinaryConvSchema.Strides or BinaryConvSchema.Dilations => a.Ints.All(v => v == 1),
                BinaryConvSchema.Pads => pads = a.Ints.Count == 4 && a.Ints.All(v => v == 1),
                BinaryConvSchema.Group => a.I == 1,
                BinaryConvSchema.AutoPad => a.S.ToStringUtf8() is "NOTSET",
                BinaryConvSchema.MaskScale => true,
                _ => false,
            };
            if (!ok) return false;
        }
        return kernel && pads;
    }

    /// <summary>
    /// The conv written back before a glue node that folds one (<see cref="Unfolded"/>): a <c>SparseBinaryConv2d</c>
    /// reading SparseX … SparseMask and writing <paramref name="name"/>.sparse, which becomes the glue's Addend.
    /// </summary>
    internal static void Unfold(List<NodeProto> nodes, NodeProto glue, string name)
    {
        var conv = new NodeProto { OpType = BinaryConvSchema.SparseBinaryConv2d, Domain = BinaryConvSchema.Domain, Name = name + ".sparse" };
        conv.Input.AddRange([glue.Input[BinaryConvSchema.ActivationSparseX], glue.Input[BinaryConvSchema.ActivationSparseW], glue.Input[BinaryConvSchema.ActivationSparseAlpha],
            glue.Input[BinaryConvSchema.ActivationSparseTau], glue.Input[BinaryConvSchema.ActivationSparseBias], glue.Input[BinaryConvSchema.ActivationSparseMask]]);
        conv.Output.Add(conv.Name);
        var scale = glue.Attribute.Single(a => a.Name == BinaryConvSchema.ActivationSparseMaskScale);
        new NodeBuilder(conv).Attribute(BinaryConvSchema.KernelShape, 3L, 3L).Attribute(BinaryConvSchema.Strides, 1L, 1L)
            .Attribute(BinaryConvSchema.Pads, 1L, 1L, 1L, 1L).Attribute(BinaryConvSchema.Dilations, 1L, 1L).Attribute(BinaryConvSchema.Group, 1L)
            .Attribute(BinaryConvSchema.MaskScale, scale.I);
        nodes.Add(conv);
        glue.Attribute.Remove(scale);
        glue.Input[BinaryConvSchema.ActivationAddend] = conv.Output[0];
        for (int i = BinaryConvSchema.ActivationSparseX; i <= BinaryConvSchema.ActivationSparseMask; i++) glue.Input[i] = "";
        GraphQueries.TrimEmpty(glue.Input, BinaryConvSchema.ActivationShiftOut + 1);
    }

    /// <summary>
    /// A copy of <paramref name="model"/> with every folded sparse conv written back as a <c>SparseBinaryConv2d</c> node
    /// before its glue (everything else kept): the two-node form the fold must reproduce bit for bit.
    /// </summary>
    public static ModelProto Unfolded(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return GraphQueries.Unfolded(model, IsFolded, Unfold);
    }
}
