using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// The graph rewrite that fuses the 32-bit glue between binary layers (<c>bivm export</c> applies it by default;
/// <c>bivm export --fuse IN.onnx</c> applies it to an existing file). Each chain
/// <code>
///   [m = Mul(s, γ)]  t = Add(x, m | s)  u = Add(t, b₁)  p = PRelu(u, k)  y = Add(p, b₂)
/// </code>
/// (EBB's scaled shortcut add followed by RPReLU, or RPReLU alone; b₁, k, b₂ per-channel initializers, γ a one-value
/// initializer; the Mul may also sit before a <c>Tile</c> of the shortcut, whose input it then becomes) becomes one <c>ai.bivm:ShortcutRPReLU(x, s | m, γ, b₁, k, b₂)</c> node with y's name, so nothing
/// downstream changes. The fused op performs the same float32 operations in the same order, so the rewritten model
/// gives bit-identical values (docs/export.md, "Fusion"). The decoder's Resize + crop + Concat is fused by
/// <see cref="UpsampleConcatFusion"/>, which Apply runs after the chains, then the ConvGRU glue by <see cref="GruFusion"/>
/// (bit-identical too, with ONNX Runtime's own σ and tanh arithmetic). The chains are fused in the main graph and
/// in If branches (the DGF's), <see cref="GuidedUpsampleFusion"/> fuses the DGF's full-resolution tail and
/// <see cref="GuidedStatisticsFusion"/> its box-filter statistics at the working size (both within 1e-5).
/// Then <see cref="InstanceNormFusion"/> folds the InstanceNormalization that feeds a fused glue node into it: that part
/// agrees to float rounding, not bit for bit. Last, <see cref="ProjectionFusion"/> moves a 1×1 Conv that reads a glue
/// node's output into that node (MLAS's summation order: bit-identical on x86-64 with FMA, promised within 1e-5), and
/// <see cref="PointwiseFusion"/> folds a 1×1 binary conv whose only reader is a glue node into it (bit-identical where
/// the glue has no folded normalization; its statistics then come from the dots' integer moments, within float rounding),
/// <see cref="SparseFusion"/> folds SHB's masked 3×3 conv into the glue that adds it (bit-identical), and
/// <see cref="SparseHandOffFusion"/> hands that conv its input packed and drops the float tensors left without readers;
/// <see cref="UnreadFloatFusion"/> drops the other float outputs that nothing reads but for their shape, and
/// <see cref="HiddenHandOffFusion"/> hands the DGF's statistics the decoder's last hidden features as bits, and
/// <see cref="AveragePoolFusion"/> runs the source pyramid's 2×2 average pools as <c>ai.bivm:AveragePool2x</c> (bit-identical), and
/// <see cref="ConvGruFusion"/> makes each ConvGRU, its two binary convs and the glue around them, one <c>ai.bivm:ConvGru</c> (bit-identical),
/// and <see cref="GruHandOffFusion"/> hands each its input X as the bits the glue before it packs (bit-identical),
/// and <see cref="StemFusion"/> runs the backbone's stem (input normalization, FP32 Conv, InstanceNormalization, HardSwish)
/// as one <c>ai.bivm:Stem</c> that hands the first binary conv its bits and the shortcut its pool (within float rounding),
/// and <see cref="ChannelMeanFusion"/> runs a GlobalAveragePool over one of our ops' outputs as <c>ai.bivm:ChannelMean</c> (bit-identical).
/// </summary>
/// <remarks>
/// A chain is fused only where every intermediate tensor has exactly one consumer and is not a graph output (a test
/// that exposes an intermediate keeps it), and the parameters are initializers. The Mul is folded only when its
/// output feeds nothing else. ShortcutRPReLU chains are fused in the main graph only; the DGF's If is rewritten by
/// <see cref="GuidedUpsampleFusion"/>, which Apply and Unfuse also run. Applying the pass to a fused model changes nothing.
/// </remarks>
public static class GlueFusion
{
    /// <summary>Metadata key recording what the pass did.</summary>
    public const string MetadataKey = "fused";

    /// <summary>
    /// A fused copy of <paramref name="model"/>, the number of chains fused, the number of packed hand-offs added
    /// (a ShortcutRPReLU or a Stem that also writes the packed sign bits its one binary-conv consumer reads as XPacked), and the
    /// number of InstanceNormalization nodes folded into the ShortcutRPReLU they feed (<see cref="InstanceNormFusion"/>).
    /// </summary>
    public static (ModelProto Model, int Fused, int PackedHandOffs, int NormsFolded) Apply(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var fused = GraphQueries.WithoutChecksum(model);
        var graph = fused.Graph;
        // Like the upsampling glue: a model without ai.bivm ops (the FP32 RVM, the users' reference) stays standard ONNX.
        int guided = graph.Node.Any(n => n.Domain == BinaryConvSchema.Domain) ? GuidedUpsampleFusion.Apply(fused) + GuidedStatisticsFusion.Apply(fused) : 0;
        var initializers = graph.Initializer.ToDictionary(t => t.Name);
        var outputs = graph.Output.Select(o => o.Name).ToHashSet();
        var producers = new Dictionary<string, NodeProto>();
        var consumers = new Dictionary<string, int>();
        foreach (var node in graph.Node)
        {
            foreach (var o in node.Output) producers[o] = node;
            foreach (var i in node.Input) consumers[i] = consumers.GetValueOrDefault(i) + 1;
        }

        bool Private(string tensor) => consumers.GetValueOrDefault(tensor) == 1 && !outputs.Contains(tensor);
        NodeProto? Producer(string tensor, string opType) =>
            producers.TryGetValue(tensor, out var n) && n.OpType == opType && n.Domain.Length == 0 ? n : null;
        // Which input of a binary Add is the per-channel initializer (the other is the data), or -1.
        int ChannelConstant(NodeProto add) =>
            add.Input.Count != 2 ? -1 : initializers.ContainsKey(add.Input[1]) && !initializers.ContainsKey(add.Input[0]) ? 1
                : initializers.ContainsKey(add.Input[0]) && !initializers.ContainsKey(add.Input[1]) ? 0 : -1;

        var removed = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var replacements = new Dictionary<NodeProto, NodeProto>(ReferenceEqualityComparer.Instance);
        foreach (var prelu in graph.Node.Where(n => n.OpType == "PRelu" && n.Domain.Length == 0).ToList())
        {
            if (prelu.Input.Count != 2 || !initializers.TryGetValue(prelu.Input[1], out var slope)) continue;
            if (!Private(prelu.Input[0]) || !Private(prelu.Output[0])) continue;
            var addIn = Producer(prelu.Input[0], "Add");
            if (addIn is null || removed.Contains(addIn)) continue;
            int shiftInAt = ChannelConstant(addIn);
            if (shiftInAt < 0) continue;
            var addOut = Consumer(graph, prelu.Output[0]);
            if (addOut is not { OpType: "Add", Domain: "" }) continue;
            int shiftOutAt = ChannelConstant(addOut);
            if (shiftOutAt < 0 || addOut.Input[1 - shiftOutAt] != prelu.Output[0]) continue;
            var shiftIn = initializers[addIn.Input[shiftInAt]];
            var shiftOut = initializers[addOut.Input[shiftOutAt]];
            long channels = Channels(slope);
            if (channels <= 0 || Channels(shiftIn) != channels || Channels(shiftOut) != channels) continue;

            string t = addIn.Input[1 - shiftInAt];
            string x = t, addend = "", scale = "";
            NodeProto first = addIn;
            var chain = new List<NodeProto> { addIn, prelu, addOut };
            if (Private(t) && Producer(t, "Add") is { } shortcut && !removed.Contains(shortcut) && shortcut.Input.Count == 2
                && !initializers.ContainsKey(shortcut.Input[0]) && !initializers.ContainsKey(shortcut.Input[1]))
            {
                first = shortcut;
                chain.Add(shortcut);
                // The scaled operand is the addend; with no scalar Mul on either side, the second operand is.
                int scaledAt = ScalarMul(shortcut.Input[1]) is not null ? 1 : ScalarMul(shortcut.Input[0]) is not null ? 0 : 1;
                x = shortcut.Input[1 - scaledAt];
                addend = shortcut.Input[scaledAt];
                if (ScalarMul(addend) is { } mul)
                {
                    chain.Add(mul);
                    int gammaAt = initializers.ContainsKey(mul.Input[1]) ? 1 : 0;
                    scale = mul.Input[gammaAt];
                    addend = mul.Input[1 - gammaAt];
                }
                else if (Private(addend) && Producer(addend, "Tile") is { } tile && ScalarMul(tile.Input[0]) is { } tiledMul)
                {
                    // Tile(x·γ) = Tile(x)·γ value for value (Tile copies, the product is per element): the Tile
                    // now repeats x, and γ moves into the fused node.
                    chain.Add(tiledMul);
                    int gammaAt = initializers.ContainsKey(tiledMul.Input[1]) ? 1 : 0;
                    scale = tiledMul.Input[gammaAt];
                    tile.Input[0] = tiledMul.Input[1 - gammaAt];
                }
            }

            var node = new NodeProto
            {
                OpType = BinaryConvSchema.ShortcutRPReLU,
                Domain = BinaryConvSchema.Domain,
                Name = (addOut.Name.Length > 0 ? addOut.Name : addOut.Output[0]) + ".fused",
            };
            var inputs = new string[BinaryConvSchema.ActivationShiftOut + 1];
            inputs[BinaryConvSchema.ActivationX] = x;
            inputs[BinaryConvSchema.ActivationAddend] = addend;
            inputs[BinaryConvSchema.ActivationAddendScale] = scale;
            inputs[BinaryConvSchema.ActivationShiftIn] = shiftIn.Name;
            inputs[BinaryConvSchema.ActivationSlope] = slope.Name;
            inputs[BinaryConvSchema.ActivationShiftOut] = shiftOut.Name;
            node.Input.AddRange(inputs);
            node.Output.Add(addOut.Output[0]);
            foreach (var n in chain) removed.Add(n);
            replacements[first] = node;
        }

        NodeProto? ScalarMul(string tensor)
        {
            if (!Private(tensor) || Producer(tensor, "Mul") is not { } mul || removed.Contains(mul) || mul.Input.Count != 2) return null;
            int gammaAt = initializers.TryGetValue(mul.Input[1], out var g1) && Tensors.IsFloatScalar(g1) ? 1
                : initializers.TryGetValue(mul.Input[0], out var g0) && Tensors.IsFloatScalar(g0) ? 0 : -1;
            return gammaAt >= 0 && !initializers.ContainsKey(mul.Input[1 - gammaAt]) ? mul : null;
        }

        // Each fused node takes the place of its chain's first node: its inputs exist there, its output is used later.
        var rewritten = GraphQueries.Rewritten(graph.Node, replacements, removed);
        int upsamples = UpsampleConcatFusion.Apply(fused, rewritten);
        // The ConvGRU glue, in a binary model only (the FP32 RVM has the same GRUs and stays standard ONNX).
        int grus = rewritten.Any(n => n.Domain == BinaryConvSchema.Domain) ? GruFusion.Apply(fused, rewritten) : 0;
        var (inBranches, branchHandOffs, branchesRewritten) = InBranches(graph, branch => { var r = Apply(branch); return (r.Model, r.Fused, r.PackedHandOffs); });
        int norms = InstanceNormFusion.Apply(rewritten, graph, initializers);
        int shortcuts = ShortcutSumFusion.Apply(rewritten, graph, initializers);
        int handOffs = AddPackedHandOffs(rewritten, initializers);
        int projections = ProjectionFusion.Apply(rewritten, initializers);
        int pointwise = PointwiseFusion.Apply(rewritten, initializers, outputs);
        int sparse = SparseFusion.Apply(rewritten, initializers, outputs);
        int sparseHandOffs = SparseHandOffFusion.Apply(rewritten, initializers);
        int unread = UnreadFloatFusion.Apply(rewritten, graph, outputs);
        int hidden = HiddenHandOffFusion.Apply(rewritten, graph, initializers, outputs);
        int ySplits = YSplitFusion.Apply(rewritten, graph, initializers, outputs);
        bool binary = rewritten.Any(n => n.Domain == BinaryConvSchema.Domain);
        int identities = binary ? OutputIdentityFusion.Apply(rewritten, graph, outputs) : 0;
        var (stems, stemHandOffs) = binary ? StemFusion.Apply(rewritten, graph, initializers, outputs) : (0, 0);
        int cells = binary ? ConvGruFusion.Apply(rewritten, initializers, outputs) : 0;
        int gruHandOffs = binary ? GruHandOffFusion.Apply(rewritten, graph, initializers, outputs) : 0;
        // After the ConvGRU cells: decode4's pool reads a Concat with a cell's state, whose channels it traces through the cell.
        int pools = binary ? AveragePoolFusion.Apply(rewritten, graph) : 0;
        int incoherences = binary ? IncoherenceFusion.Apply(fused, rewritten) : 0;
        int means = binary ? ChannelMeanFusion.Apply(rewritten) : 0;
        if (replacements.Count == 0 && handOffs == 0 && upsamples == 0 && grus == 0 && guided == 0 && inBranches == 0 && branchHandOffs == 0 && norms == 0 && shortcuts == 0
            && projections == 0 && pointwise == 0 && sparse == 0 && sparseHandOffs == 0 && unread == 0 && hidden == 0 && ySplits == 0 && identities == 0 && stems == 0 && pools == 0 && cells == 0 && gruHandOffs == 0
            && incoherences == 0 && means == 0 && branchesRewritten == 0)
            return (fused, 0, 0, 0);
        graph.Node.Clear();
        graph.Node.AddRange(rewritten);
        if (!fused.OpsetImport.Any(o => o.Domain == BinaryConvSchema.Domain))
            fused.OpsetImport.Add(new OperatorSetIdProto { Domain = BinaryConvSchema.Domain, Version = BinaryConvSchema.OpsetVersion });
        var previous = fused.MetadataProps.FirstOrDefault(m => m.Key == MetadataKey);
        if (previous is not null) fused.MetadataProps.Remove(previous);
        int total = graph.Node.Count(n => n.OpType == BinaryConvSchema.ShortcutRPReLU && n.Domain == BinaryConvSchema.Domain);
        int packedTotal = graph.Node.Count(n => IsBinaryConv(n) && n.Input.Count > BinaryConvSchema.InputXPacked) + graph.Node.Count(PointwiseFusion.IsFolded);
        int upsampleTotal = graph.Node.Count(n => n.OpType == BinaryConvSchema.Upsample2xConcat && n.Domain == BinaryConvSchema.Domain);
        int normTotal = graph.Node.Count(n => n.OpType == BinaryConvSchema.ShortcutRPReLU && n.Input.Count > BinaryConvSchema.ActivationNormScale && n.Input[BinaryConvSchema.ActivationNormScale].Length > 0);
        fused.MetadataProps.Add(new StringStringEntryProto { Key = MetadataKey, Value = $"{total} {BinaryConvSchema.ShortcutRPReLU} (shortcut add + RPReLU chains, bit-identical); {packedTotal} binary convs take their input packed by the op before them"
            + $"; {normTotal} {BinaryConvSchema.ShortcutRPReLU} with their InstanceNormalization folded in (float64 statistics: within float rounding)"
            + $"; {upsampleTotal} {BinaryConvSchema.Upsample2xConcat} (Resize ×2 + crop + Concat, bit-identical)" });
        if (GruFusion.Count(fused) is > 0 and var gruTotal)
            fused.MetadataProps[^1].Value += $", {gruTotal} ConvGRU glue fused ({BinaryConvSchema.GruStateConcat}, {BinaryConvSchema.GruGates}, {BinaryConvSchema.GruUpdate}; bit-identical where ONNX Runtime runs MLAS's FMA3 σ and tanh)";
        if (ConvGruFusion.Count(fused) is > 0 and var cellTotal)
            fused.MetadataProps[^1].Value += $", {cellTotal} of them with both binary convs as one {BinaryConvSchema.ConvGru} (bit-identical)";
        if (GruHandOffFusion.Count(fused) is > 0 and var gruBitsTotal)
            fused.MetadataProps[^1].Value += $", {gruBitsTotal} {BinaryConvSchema.ConvGru} reading X as bits the glue before packs against its two τ (bit-identical)";
        if (GuidedUpsampleFusion.Count(fused) is > 0 and var tails) fused.MetadataProps[^1].Value += $", {tails} {BinaryConvSchema.GuidedUpsample} (the DGF's full-resolution tail, within 1e-5)";
        if (GuidedStatisticsFusion.Count(fused) is > 0 and var statistics) fused.MetadataProps[^1].Value += $", {statistics} {BinaryConvSchema.GuidedStatistics} (the DGF's box-filter statistics at the working size, within 1e-5)";
        if (PointwiseFusion.Count(fused) is > 0 and var foldedTotal)
            fused.MetadataProps[^1].Value += $", {foldedTotal} 1×1 {BinaryConvSchema.BinaryConv2d} computed by the {BinaryConvSchema.ShortcutRPReLU} that reads it (bit-identical; a folded InstanceNormalization's statistics from the dots' integer moments: within float rounding)";
        if (SparseFusion.Count(fused) is > 0 and var sparseTotal)
            fused.MetadataProps[^1].Value += $", {sparseTotal} {BinaryConvSchema.SparseBinaryConv2d} computed by the {BinaryConvSchema.ShortcutRPReLU} that adds it (bit-identical)";
        if (SparseHandOffFusion.Count(fused) is > 0 and var sparseHandOffTotal)
            fused.MetadataProps[^1].Value += $", {sparseHandOffTotal} of them reading their input packed by the op before ({SparseHandOffFusion.BitsOnly(fused)} ops writing only bits; bit-identical)";
        if (UnreadFloatFusion.Count(fused) is > 0 and var unreadTotal)
            fused.MetadataProps[^1].Value += $", {unreadTotal} ops not writing a float output that nothing reads but for its shape (bit-identical)";
        if (HiddenHandOffFusion.Count(fused) is > 0 and var hiddenTotal)
            fused.MetadataProps[^1].Value += $", {hiddenTotal} {BinaryConvSchema.GuidedStatistics} reading Hidden packed by the glue that makes it (bit-identical)";
        if (YSplitFusion.Count(fused) is > 0 and var splitTotal)
            fused.MetadataProps[^1].Value += $", {splitTotal} {BinaryConvSchema.ShortcutRPReLU} writing their Y as the two halves a Split made of it (bit-identical)";
        if (StemFusion.Count(fused) is > 0 and var stemTotal)
            fused.MetadataProps[^1].Value += $", {stemTotal} stem (input normalization, 3×3 Conv, InstanceNormalization, HardSwish and its pool) as one {BinaryConvSchema.Stem} (its own summation order: within float rounding)";
        if (StemFusion.InputPoolCount(fused) is > 0 and var inputPools)
            fused.MetadataProps[^1].Value += $", {inputPools} 2×2 AveragePool of the stem's input taken by the {BinaryConvSchema.Stem} in its convolution's pass (XPooled, ONNX Runtime's order: bit-identical)";
        if (AveragePoolFusion.Count(fused) is > 0 and var poolTotal)
            fused.MetadataProps[^1].Value += $", {poolTotal} AveragePool 2×2 as {BinaryConvSchema.AveragePool2x} (ONNX Runtime's summation order: bit-identical)";
        if (IncoherenceFusion.Count(fused) is > 0 and var incoherenceTotal)
            fused.MetadataProps[^1].Value += $", {incoherenceTotal} incoherent mask's front (×2 resampling, |F − smooth|, the channel mean, the signs' count) as {BinaryConvSchema.Incoherence} (ONNX Runtime's order: bit-identical)";
        if (ChannelMeanFusion.Count(fused) is > 0 and var meanTotal)
            fused.MetadataProps[^1].Value += $", {meanTotal} GlobalAveragePool as {BinaryConvSchema.ChannelMean} (MLAS's summation order: bit-identical)";
        if (ProjectionFusion.Count(fused) is > 0 and var projectionTotal)
            fused.MetadataProps[^1].Value += $", {projectionTotal} 1×1 Conv moved into the {BinaryConvSchema.ShortcutRPReLU} it reads (MLAS's summation order: bit-identical on x86-64 with FMA)";
        int sumTotal = graph.Node.Count(n => n.OpType == BinaryConvSchema.ShortcutSum && n.Domain == BinaryConvSchema.Domain);
        int mapTotal = graph.Node.Count(n => n.OpType == BinaryConvSchema.ShortcutRPReLU && n.Attribute.Any(a => a.Name is BinaryConvSchema.ActivationAddendRepeat or BinaryConvSchema.ActivationAddendChunks));
        if (sumTotal + mapTotal > 0)
            fused.MetadataProps[^1].Value += $", {sumTotal} {BinaryConvSchema.ShortcutSum} (scaled, repeated shortcut adds, bit-identical), {mapTotal} {BinaryConvSchema.ShortcutRPReLU} addends with their Tile or pair sum folded in (bit-identical)";
        return (fused, replacements.Count + inBranches, handOffs + branchHandOffs + stemHandOffs, norms);
    }

    /// <summary>
    /// Runs <paramref name="pass"/> on each If branch of <paramref name="main"/> (the DGF's RPReLU chains live in one),
    /// as a model whose graph is the branch's nodes and outputs plus the main graph's initializers (which a branch
    /// reads from the outer scope); the branch takes the rewritten nodes. Returns the pass's counts, summed, and how many
    /// branches were rewritten (a moved projection counts in neither count but removes a node).
    /// </summary>
    private static (int Fused, int HandOffs, int Rewritten) InBranches(GraphProto main, Func<ModelProto, (ModelProto Model, int Fused, int HandOffs)> pass)
    {
        int fused = 0, handOffs = 0, rewritten = 0;
        foreach (var branch in main.Node.Where(n => n.OpType == "If").SelectMany(n => n.Attribute).Select(a => a.G).OfType<GraphProto>())
        {
            var view = new ModelProto { Graph = new GraphProto { Name = branch.Name } };
            view.Graph.Node.AddRange(branch.Node);
            view.Graph.Output.AddRange(branch.Output);
            view.Graph.Initializer.AddRange(main.Initializer);
            var (done, n, h) = pass(view);
            if (n == 0 && h == 0 && done.Graph.Node.SequenceEqual(branch.Node)) continue; // (protobuf messages compare by value)
            branch.Node.Clear();
            branch.Node.AddRange(done.Graph.Node);
            (fused, handOffs, rewritten) = (fused + n, handOffs + h, rewritten + 1);
        }
        return (fused, handOffs, rewritten);
    }

    /// <summary>
    /// Where the output y of a ShortcutRPReLU, an Upsample2xConcat or a GuidedStatistics (its Stats) is the X of one binary conv (other, float consumers
    /// allowed), the node also writes y's sign bits packed with that conv's τ (ShortcutRPReLU: input TauNext;
    /// Upsample2xConcat and GuidedStatistics: attribute tau_next), and the conv reads them as XPacked: the bits are
    /// packed once, right after y is computed, instead of by the conv from y in memory. The packer and its comparison
    /// are the conv's own, so the bits are the same. Where two binary convs read y (SHB's sparse 3×3 and dense 1×1,
    /// with different τ), the dense one gets the bits: it packs every pixel, the sparse one only those its active
    /// cells read. ShortcutSum does not hand off: its outputs are the backbone's small maps, where packing row by
    /// row across hundreds of channels cost more than the conv's own packing saved (measured, docs/export.md).
    /// </summary>
    private static int AddPackedHandOffs(List<NodeProto> nodes, Dictionary<string, TensorProto> initializers)
    {
        var binaryReaders = new Dictionary<string, List<NodeProto>>();
        foreach (var node in nodes.Where(IsBinaryConv))
            if (node.Input.Count > 0 && node.Input[0].Length > 0) (binaryReaders.TryGetValue(node.Input[0], out var l) ? l : binaryReaders[node.Input[0]] = []).Add(node);
        int added = 0;
        foreach (var producer in nodes.Where(n => n.Domain == BinaryConvSchema.Domain
                     && n.OpType is BinaryConvSchema.ShortcutRPReLU or BinaryConvSchema.Upsample2xConcat or BinaryConvSchema.GuidedStatistics))
        {
            bool glue = producer.OpType == BinaryConvSchema.ShortcutRPReLU;
            // The packed output comes after Y (GuidedStatistics: after Stats, MeanX and MeanY).
            int packedAt = producer.OpType == BinaryConvSchema.GuidedStatistics ? BinaryConvSchema.StatisticsPacked : BinaryConvSchema.PackedOutput;
            if (producer.Output.Count > packedAt || (glue && producer.Input.Count > BinaryConvSchema.ActivationTauNext && producer.Input[BinaryConvSchema.ActivationTauNext].Length > 0)
                || producer.Attribute.Any(a => a.Name == BinaryConvSchema.TauNext)) continue;
            if (!binaryReaders.TryGetValue(producer.Output[0], out var readers)) continue;
            var dense = readers.Where(r => r.OpType == BinaryConvSchema.BinaryConv2d).ToList();
            var conv = readers.Count == 1 ? readers[0] : dense.Count == 1 ? dense[0] : null;
            if (conv is null || conv.Input.Count > BinaryConvSchema.InputXPacked || conv.Input.Count <= BinaryConvSchema.InputTau) continue;
            if (!initializers.TryGetValue(conv.Input[BinaryConvSchema.InputTau], out var tau) || tau.Dims.Count != 1 || tau.DataType != (int)TensorProto.Types.DataType.Float) continue;
            string packed = producer.Output[0] + ".packed";
            if (glue)
            {
                if (!initializers.TryGetValue(producer.Input[BinaryConvSchema.ActivationShiftIn], out var shift) || Channels(tau) != Channels(shift)) continue;
                while (producer.Input.Count <= BinaryConvSchema.ActivationTauNext) producer.Input.Add("");
                producer.Input[BinaryConvSchema.ActivationTauNext] = tau.Name;
            }
            else
            {
                // An attribute: the channel count is checked against Y's when the node runs.
                var values = new AttributeProto { Name = BinaryConvSchema.TauNext, Type = AttributeProto.Types.AttributeType.Floats };
                values.Floats.AddRange(FloatValues(tau));
                producer.Attribute.Add(values);
            }
            producer.Output.Add(packed);
            while (conv.Input.Count < BinaryConvSchema.InputXPacked) conv.Input.Add("");
            conv.Input.Add(packed);
            added++;
        }
        return added;
    }

    private static float[] FloatValues(TensorProto t) =>
        t.FloatData.Count > 0 ? t.FloatData.ToArray()
            : Enumerable.Range(0, t.RawData.Length / 4).Select(i => BitConverter.ToSingle(t.RawData.Span.Slice(4 * i, 4))).ToArray();

    /// <summary>A binary conv's packed hand-off goes: it packs X itself again (trailing empty inputs dropped, as the exporter writes them).</summary>
    internal static void DropPackedInput(NodeProto conv)
    {
        while (conv.Input.Count > BinaryConvSchema.InputTau + 1 && (conv.Input.Count > BinaryConvSchema.InputXPacked || conv.Input[^1].Length == 0))
            conv.Input.RemoveAt(conv.Input.Count - 1);
    }

    internal static bool IsBinaryConv(NodeProto n) =>
        n.Domain == BinaryConvSchema.Domain && n.OpType is BinaryConvSchema.BinaryConv2d or BinaryConvSchema.SparseBinaryConv2d;

    /// <summary>
    /// The inverse: every ShortcutRPReLU written back as the standard ops it stands for ([InstanceNormalization,] Mul, Add, Add, PRelu, Add),
    /// every Upsample2xConcat as Resize, Slice and Concat (<see cref="UpsampleConcatFusion.Unfuse"/>), the ConvGRU ops as
    /// Shape, Expand, Sigmoid, Split, Tanh, Sub, Mul, Add and Concat (<see cref="GruFusion.Unfuse"/>; a ConvGru first as
    /// those ops and its two convs, <see cref="ConvGruFusion.Unfolded"/>), a glue node's
    /// projection as the Conv after it, a folded 1×1 binary conv as the BinaryConv2d before it
    /// (<see cref="PointwiseFusion.Unfolded"/>), a folded sparse conv as the SparseBinaryConv2d before it
    /// (<see cref="SparseFusion.Unfolded"/>), GuidedStatistics as its thirteen nodes (<see cref="GuidedStatisticsFusion.Unfuse"/>),
    /// a Stem as its five or six (<see cref="StemFusion.Unfolded"/>).
    /// The oracle for a fused file whose unfused original is gone (the shipped models): both must give the same bits.
    /// </summary>
    /// <exception cref="ArgumentException">A ShortcutRPReLU's parameters are not initializers shaped to broadcast over NCHW.</exception>
    public static ModelProto Unfuse(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        // Folded convs first come back as SparseBinaryConv2d and BinaryConv2d nodes; their packed input goes with every other below.
        // (Both Unfolded copies first undo the hand-offs of bits and name again the float tensors left unwritten.)
        var unfused = PointwiseFusion.Unfolded(SparseFusion.Unfolded(ConvGruFusion.Unfolded(StemFusion.Unfolded(GraphQueries.WithoutChecksum(model)))));
        GuidedUpsampleFusion.Unfuse(unfused);
        GuidedStatisticsFusion.Unfuse(unfused);
        var graph = unfused.Graph;
        InBranches(graph, branch => (Unfuse(branch), 1, 0));
        var initializers = graph.Initializer.ToDictionary(t => t.Name);
        long opset = unfused.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max();
        var rewritten = new List<NodeProto>();
        foreach (var node in graph.Node)
        {
            if (IsBinaryConv(node) && node.Input.Count > BinaryConvSchema.InputXPacked)
            {
                DropPackedInput(node);
            }
            if (GruFusion.IsFused(node))
            {
                GruFusion.Unfuse(graph, node, rewritten, opset);
                continue;
            }
            if (node.OpType == BinaryConvSchema.Upsample2xConcat && node.Domain == BinaryConvSchema.Domain)
            {
                UpsampleConcatFusion.Unfuse(graph, node, rewritten);
                continue;
            }
            if (node.OpType == BinaryConvSchema.ShortcutSum && node.Domain == BinaryConvSchema.Domain)
            {
                ShortcutSumFusion.Unfuse(rewritten, graph, node);
                continue;
            }
            if (AveragePoolFusion.IsFused(node))
            {
                rewritten.Add(AveragePoolFusion.Unfused(node));
                continue;
            }
            if (IncoherenceFusion.IsFused(node))
            {
                IncoherenceFusion.Unfuse(graph, node, rewritten, opset);
                continue;
            }
            if (ChannelMeanFusion.IsFused(node))
            {
                rewritten.Add(ChannelMeanFusion.Unfused(node));
                continue;
            }
            if (node.OpType != BinaryConvSchema.ShortcutRPReLU || node.Domain != BinaryConvSchema.Domain)
            {
                rewritten.Add(node);
                continue;
            }
            string name = node.Name.Length > 0 ? node.Name : node.Output[0];
            string Input(int i) => node.Input.Count > i ? node.Input[i] : "";
            foreach (int i in new[] { BinaryConvSchema.ActivationShiftIn, BinaryConvSchema.ActivationSlope, BinaryConvSchema.ActivationShiftOut })
                if (!initializers.TryGetValue(Input(i), out var t) || t.Dims.Count < 3)
                    throw new ArgumentException($"{name}: input '{Input(i)}' must be an initializer shaped [C, 1, 1] or [1, C, 1, 1] to unfuse", nameof(model));
            string x = Input(BinaryConvSchema.ActivationX), addend = Input(BinaryConvSchema.ActivationAddend), scale = Input(BinaryConvSchema.ActivationAddendScale);
            if (Input(BinaryConvSchema.ActivationNormScale).Length > 0) x = InstanceNormFusion.Unfold(rewritten, node, name, initializers);
            if (addend.Length > 0)
            {
                addend = ShortcutSumFusion.UnmapAddend(rewritten, graph, node, name, addend);
                if (scale.Length > 0) addend = Add(rewritten, "Mul", name + ".mul", addend, scale);
                x = Add(rewritten, "Add", name + ".shortcut", x, addend);
            }
            var u = Add(rewritten, "Add", name + ".shift_in", x, Input(BinaryConvSchema.ActivationShiftIn));
            var p = Add(rewritten, "PRelu", name + ".prelu", u, Input(BinaryConvSchema.ActivationSlope));
            Add(rewritten, "Add", name + ".shift_out", p, Input(BinaryConvSchema.ActivationShiftOut), node.Output[0]);
            if (Input(BinaryConvSchema.ActivationProjection).Length > 0) ProjectionFusion.Unfold(rewritten, node, name);
        }
        graph.Node.Clear();
        graph.Node.AddRange(rewritten);
        var note = unfused.MetadataProps.FirstOrDefault(m => m.Key == MetadataKey);
        if (note is not null) unfused.MetadataProps.Remove(note);
        return unfused;
    }

    private static string Add(List<NodeProto> nodes, string opType, string name, string a, string b, string? output = null)
    {
        var node = GraphQueries.StandardNode(opType, name, [a, b], output ?? name);
        nodes.Add(node);
        return node.Output[0];
    }

    private static NodeProto? Consumer(GraphProto graph, string tensor) => graph.Node.FirstOrDefault(n => n.Input.Contains(tensor));


    /// <summary>C for a float32 tensor shaped [C], [C, 1, 1] or [1, C, 1, 1] (what ShortcutRPReLU accepts); else −1.</summary>
    internal static long Channels(TensorProto t)
    {
        if (t.DataType != (int)TensorProto.Types.DataType.Float) return -1;
        var d = t.Dims;
        return d.Count switch
        {
            1 => d[0],
            3 when d[1] == 1 && d[2] == 1 => d[0],
            4 when d[0] == 1 && d[2] == 1 && d[3] == 1 => d[1],
            _ => -1,
        };
    }
}
