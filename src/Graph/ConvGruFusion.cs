using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// The pass of <see cref="GlueFusion"/> that makes each ConvGRU one node (docs/model-contract.md, "ConvGru"): after
/// <see cref="GruFusion"/>,
/// <code>
///   a = GruStateConcat(x, h)   g = BinaryConv2d(a, IhW, …)   z, b = GruGates(x, g, h)   c = BinaryConv2d(b, HhW, …)
///   h' = GruUpdate(c, z, h)
/// </code>
/// becomes <c>h' = ai.bivm:ConvGru(x, h, IhW, IhAlpha, IhTau, IhBias, HhW, HhAlpha, HhTau, HhBias)</c>, named after the
/// ih conv with <c>.cell</c> in place of <c>.ih</c>. The op computes the same values bit for bit and writes only h':
/// a, g, z, b and c (8·C floats a pixel) are never formed. Fused only where both convs are 3×3, stride 1, dilation
/// 1, group 1, pads 1, pack their input themselves, have initializers for their constants, and a, g, z, b and c are
/// read only inside the chain and are no graph output. <see cref="Unfolded"/> writes the five nodes back.
/// </summary>
public static class ConvGruFusion
{
    /// <summary>Whether <paramref name="node"/> is a ConvGru.</summary>
    public static bool IsFused(NodeProto node) => node.OpType == BinaryConvSchema.ConvGru && node.Domain == BinaryConvSchema.Domain;

    /// <summary>How many ConvGru nodes <paramref name="model"/> has (main graph and If branches).</summary>
    public static int Count(ModelProto model) => GraphQueries.WithSubgraphs(model.Graph).Sum(g => g.Node.Count(IsFused));

    /// <summary>Fuses every eligible ConvGRU of <paramref name="nodes"/> (a graph's, in order; rewritten in place); returns how many.</summary>
    /// <param name="initializers">The graph's initializers: the convs' constants must be among them.</param>
    /// <param name="graphOutputs">The graph's output names: an intermediate among them keeps its GRU unfused.</param>
    public static int Apply(List<NodeProto> nodes, IReadOnlyDictionary<string, TensorProto> initializers, ISet<string> graphOutputs)
    {
        var (readers, producers) = GraphQueries.ReadersAndProducers(nodes);
        // The node writing t, of this ai.bivm op, where t is read once (by the chain's next node) and is no graph output.
        NodeProto? Private(string t, string opType) =>
            t.Length > 0 && readers.GetValueOrDefault(t) == 1 && !graphOutputs.Contains(t) && producers.TryGetValue(t, out var n)
            && n.OpType == opType && n.Domain == BinaryConvSchema.Domain ? n : null;
        bool Constant(string name) => initializers.ContainsKey(name);
        // A dense binary conv the op can run: 3×3 same-size, packing X itself, constants as initializers.
        bool Eligible(NodeProto conv)
        {
            string Input(int i) => GraphQueries.InputAt(conv, i);
            return SparseFusion.IsSameSize3x3(conv) && Input(BinaryConvSchema.InputXPacked).Length == 0 && Input(BinaryConvSchema.InputMask).Length == 0
                && Constant(Input(BinaryConvSchema.InputW)) && Constant(Input(BinaryConvSchema.InputAlpha)) && Constant(Input(BinaryConvSchema.InputTau))
                && (Input(BinaryConvSchema.InputBias).Length == 0 || Constant(Input(BinaryConvSchema.InputBias)));
        }
        string Bias(NodeProto conv) => conv.Input.Count > BinaryConvSchema.InputBias ? conv.Input[BinaryConvSchema.InputBias] : "";

        var gone = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var replacements = new Dictionary<NodeProto, NodeProto>(ReferenceEqualityComparer.Instance);
        foreach (var update in nodes.Where(n => n is { OpType: BinaryConvSchema.GruUpdate, Domain: BinaryConvSchema.Domain } && n.Input.Count == BinaryConvSchema.GruUpdateInputCount))
        {
            string h = update.Input[BinaryConvSchema.GruUpdateState];
            if (Private(update.Input[BinaryConvSchema.GruUpdateCandidate], BinaryConvSchema.BinaryConv2d) is not { } hh || !Eligible(hh)) continue;
            if (Private(hh.Input[BinaryConvSchema.InputX], BinaryConvSchema.GruGates) is not { Input.Count: BinaryConvSchema.GruGatesInputCount } gates
                || gates.Output.Count != BinaryConvSchema.GruGatesOutputCount || gates.Output[BinaryConvSchema.GruGatesY] != hh.Input[BinaryConvSchema.InputX]) continue;
            // z goes from GruGates straight to GruUpdate: read there once and nowhere else.
            string z = gates.Output[BinaryConvSchema.GruGatesZ];
            if (update.Input[BinaryConvSchema.GruUpdateZ] != z || readers.GetValueOrDefault(z) != 1 || graphOutputs.Contains(z)) continue;
            string x = gates.Input[BinaryConvSchema.GruX];
            if (gates.Input[BinaryConvSchema.GruGatesState] != h) continue;
            if (Private(gates.Input[BinaryConvSchema.GruGatesPreactivation], BinaryConvSchema.BinaryConv2d) is not { } ih || !Eligible(ih)) continue;
            if (Private(ih.Input[BinaryConvSchema.InputX], BinaryConvSchema.GruStateConcat) is not { Input.Count: BinaryConvSchema.GruStateConcatInputCount } concat
                || concat.Input[BinaryConvSchema.GruX] != x || concat.Input[BinaryConvSchema.GruStateConcatState] != h) continue;
            string name = ih.Name.EndsWith(".ih", StringComparison.Ordinal) ? ih.Name[..^".ih".Length] + ".cell" : update.Output[0] + ".cell";
            var cell = new NodeProto { OpType = BinaryConvSchema.ConvGru, Domain = BinaryConvSchema.Domain, Name = name };
            cell.Input.AddRange([x, h, ih.Input[BinaryConvSchema.InputW], ih.Input[BinaryConvSchema.InputAlpha], ih.Input[BinaryConvSchema.InputTau], Bias(ih),
                hh.Input[BinaryConvSchema.InputW], hh.Input[BinaryConvSchema.InputAlpha], hh.Input[BinaryConvSchema.InputTau], Bias(hh)]);
            GraphQueries.TrimEmpty(cell.Input, BinaryConvSchema.ConvGruHhTau + 1);
            cell.Output.Add(update.Output[0]);
            // In the concatenation's place: x and h exist there, and h' is read after the update.
            replacements[concat] = cell;
            foreach (var n in new[] { concat, ih, gates, hh, update }) gone.Add(n);
        }
        if (replacements.Count == 0) return 0;
        var rewritten = new List<NodeProto>();
        foreach (var node in nodes)
            if (replacements.TryGetValue(node, out var cell)) rewritten.Add(cell);
            else if (!gone.Contains(node)) rewritten.Add(node);
        nodes.Clear();
        nodes.AddRange(rewritten);
        return replacements.Count;
    }

    /// <summary>
    /// A copy of <paramref name="model"/> with every ConvGru written back as its five nodes (the ih and hh convs 3×3,
    /// stride 1, pads 1): the form the op must reproduce bit for bit.
    /// </summary>
    public static ModelProto Unfolded(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return GraphQueries.Unfolded(model, IsFused, Unfold);
    }

    /// <summary>The first four of <paramref name="cell"/>'s five nodes (named after it) before it; the cell becomes the fifth, GruUpdate.</summary>
    private static void Unfold(List<NodeProto> nodes, NodeProto cell, string name)
    {
        string Input(int i) => GraphQueries.InputAt(cell, i);
        string prefix = name.EndsWith(".cell", StringComparison.Ordinal) ? name[..^".cell".Length] : name;
        string x = Input(BinaryConvSchema.GruX), h = Input(BinaryConvSchema.ConvGruState);
        string a = prefix + ".cat_ih", g = prefix + ".ih", z = prefix + ".z", b = prefix + ".cat_hh", c = prefix + ".hh";
        NodeProto Node(string opType, string nodeName, string[] inputs, params string[] outputs)
        {
            var n = new NodeProto { OpType = opType, Domain = BinaryConvSchema.Domain, Name = nodeName };
            n.Input.AddRange(inputs);
            n.Output.AddRange(outputs);
            nodes.Add(n);
            return n;
        }
        NodeProto Conv(string nodeName, string input, int w, int alpha, int tau, int bias, string output)
        {
            var conv = Node(BinaryConvSchema.BinaryConv2d, nodeName, [input, Input(w), Input(alpha), Input(tau), Input(bias)], output);
            GraphQueries.TrimEmpty(conv.Input, BinaryConvSchema.InputTau + 1);
            new NodeBuilder(conv).Attribute(BinaryConvSchema.KernelShape, 3L, 3L).Attribute(BinaryConvSchema.Strides, 1L, 1L)
                .Attribute(BinaryConvSchema.Pads, 1L, 1L, 1L, 1L).Attribute(BinaryConvSchema.Dilations, 1L, 1L).Attribute(BinaryConvSchema.Group, 1L);
            return conv;
        }
        Node(BinaryConvSchema.GruStateConcat, prefix + ".cat_ih.fused", [x, h], a);
        Conv(prefix + ".ih", a, BinaryConvSchema.ConvGruIhW, BinaryConvSchema.ConvGruIhAlpha, BinaryConvSchema.ConvGruIhTau, BinaryConvSchema.ConvGruIhBias, g);
        Node(BinaryConvSchema.GruGates, prefix + ".gates.fused", [x, g, h], z, b);
        Conv(prefix + ".hh", b, BinaryConvSchema.ConvGruHhW, BinaryConvSchema.ConvGruHhAlpha, BinaryConvSchema.ConvGruHhTau, BinaryConvSchema.ConvGruHhBias, c);
        // The cell itself, which GraphQueries.Unfolded puts after these, becomes the update (its output is h').
        cell.OpType = BinaryConvSchema.GruUpdate;
        cell.Name = prefix + ".h_next.fused";
        cell.Input.Clear();
        cell.Input.AddRange([c, z, h]);
    }
}
