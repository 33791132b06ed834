using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// The fusion pass for the decoder's ConvGRU glue (run by <see cref="GlueFusion.Apply"/>, undone by
/// <see cref="GlueFusion.Unfuse"/>). Around each ConvGRU's two convs ih and hh (src/Model's ConvGru)
/// <code>
///   s = Expand(h, Shape(x))   a = Concat(x, s)   g = ih(a)   r, z = Split(Sigmoid(g), halves, axis 1)
///   b = Concat(x, Mul(r, s))   c = hh(b)   h' = Add(Mul(Sub(1, z), s), Mul(z, Tanh(c)))
/// </code>
/// becomes <c>a = ai.bivm:GruStateConcat(x, h)</c>, <c>z, b = ai.bivm:GruGates(x, g, h)</c> and
/// <c>h' = ai.bivm:GruUpdate(c, z, h)</c> (docs/model-contract.md, "ConvGRU glue"): 12 nodes become 3, and the
/// state is never expanded (the ops broadcast it as Expand does). The fused ops compute σ and tanh as ONNX Runtime's
/// CPU kernels do (MLAS's FMA3 approximations) and everything else in the graph's order, so the values are the
/// unfused graph's bit for bit on x86-64 with FMA (within float rounding elsewhere). Fused only where r, Mul(r, s),
/// Sigmoid(g), the Sub, both products and Tanh(c) have no other reader and are no graph output, and the Expand and Shape have no reader
/// outside the GRU; a (restored) graph whose Muls read h directly, without the Expand, fuses the same way.
/// </summary>
public static class GruFusion
{
    /// <summary>Rewrites <paramref name="nodes"/> (a graph's, in order) in place; returns the number of ConvGRUs fused.</summary>
    /// <param name="model">The model the nodes belong to: its initializers and graph outputs are read.</param>
    /// <param name="nodes">The graph's nodes, possibly already rewritten by other passes.</param>
    public static int Apply(ModelProto model, List<NodeProto> nodes)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(nodes);
        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name);
        var outputs = graph.Output.Select(o => o.Name).ToHashSet();
        var producers = new Dictionary<string, NodeProto>();
        var readers = new Dictionary<string, List<NodeProto>>();
        foreach (var node in nodes)
        {
            foreach (var o in node.Output) producers[o] = node;
            // An If whose branch reads a tensor of the outer scope counts as its reader: such a tensor stays.
            foreach (var i in Inputs(node).Where(i => i.Length > 0)) (readers.TryGetValue(i, out var l) ? l : readers[i] = []).Add(node);
        }
        NodeProto? Producer(string tensor, string opType) =>
            producers.TryGetValue(tensor, out var n) && n.OpType == opType && n.Domain.Length == 0 ? n : null;
        IReadOnlyList<NodeProto> Readers(string tensor) => readers.TryGetValue(tensor, out var l) ? l : [];
        // The one node reading tensor (once), of this standard op type, where tensor is no graph output.
        NodeProto? SoleReader(string tensor, string opType) =>
            !outputs.Contains(tensor) && Readers(tensor) is [var n] && n.OpType == opType && n.Domain.Length == 0 ? n : null;
        bool IsOne(string name) => initializers.TryGetValue(name, out var t) && Tensors.FloatValues(t) is [1f];
        // The other input of a two-input node, given one of them.
        string? Other(NodeProto node, string one) => node.Input.Count != 2 ? null : node.Input[0] == one ? node.Input[1] : node.Input[1] == one ? node.Input[0] : null;
        // The Expand(h, Shape(x)) that produces tensor, for this x.
        NodeProto? Expansion(string tensor, string x) =>
            Producer(tensor, "Expand") is { Input.Count: 2 } expand && Producer(expand.Input[1], "Shape") is { Attribute.Count: 0, Input.Count: 1 } shape && shape.Input[0] == x ? expand : null;
        // The state a site reads: h itself, or h through Expand(h, Shape(x)).
        string State(string tensor, string x) => Expansion(tensor, x)?.Input[0] ?? tensor;

        var removed = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var replacements = new Dictionary<NodeProto, NodeProto>(ReferenceEqualityComparer.Instance);
        int fused = 0;
        foreach (var split in nodes.Where(n => n.OpType == "Split" && n.Domain.Length == 0).ToList())
        {
            if (split.Output.Count != 2 || !IsHalves(split, initializers)) continue;
            if (Producer(split.Input[0], "Sigmoid") is not { } sigmoid || SoleReader(sigmoid.Output[0], "Split") != split) continue;
            string r = split.Output[0], z = split.Output[1];
            if (SoleReader(r, "Mul") is not { } resetMul || Other(resetMul, r) is not { } resetState) continue;
            // z feeds exactly Sub(1, z) and Mul(z, Tanh(c)); it stays (GruGates writes it), so it may be a graph output.
            if (Readers(z) is not [var z0, var z1]) continue;
            var (sub, updateMul) = z0.OpType == "Sub" ? (z0, z1) : (z1, z0);
            if (sub is not { OpType: "Sub", Domain: "", Input.Count: 2 } || sub.Input[1] != z || !IsOne(sub.Input[0])) continue;
            if (updateMul is not { OpType: "Mul", Domain: "" } || Other(updateMul, z) is not { } candidate) continue;
            if (Producer(candidate, "Tanh") is not { } tanh || SoleReader(candidate, "Mul") != updateMul) continue;
            if (SoleReader(sub.Output[0], "Mul") is not { } keepMul || Other(keepMul, sub.Output[0]) is not { } keepState) continue;
            if (SoleReader(keepMul.Output[0], "Add") is not { } next || Other(next, keepMul.Output[0]) != updateMul.Output[0]
                || SoleReader(updateMul.Output[0], "Add") != next) continue;
            if (SoleReader(resetMul.Output[0], "Concat") is not { } hiddenConcat || !ChannelConcat(hiddenConcat) || hiddenConcat.Input[1] != resetMul.Output[0]) continue;
            string x = hiddenConcat.Input[0];
            string h = State(resetState, x);
            if (State(keepState, x) != h) continue;
            // The concatenation the first conv reads, Concat(x, s) with s the same state (expanded or not).
            var inputConcat = Readers(x).FirstOrDefault(n => n is { OpType: "Concat", Domain: "" } && !ReferenceEquals(n, hiddenConcat)
                && ChannelConcat(n) && n.Input[0] == x && State(n.Input[1], x) == h);
            if (inputConcat is null) continue;
            var gru = new List<NodeProto> { inputConcat, sigmoid, split, resetMul, hiddenConcat, tanh, sub, keepMul, updateMul, next };
            // The Expands the three sites read (none in a restored graph's Muls) and their Shapes go too, if only the GRU reads them.
            var expands = new[] { inputConcat.Input[1], resetState, keepState }.Select(s => Expansion(s, x)).OfType<NodeProto>()
                .Distinct(ReferenceEqualityComparer.Instance).Cast<NodeProto>().ToList();
            var shapes = expands.Select(e => producers[e.Input[1]]).Distinct(ReferenceEqualityComparer.Instance).Cast<NodeProto>().ToList();
            if (expands.Any(e => outputs.Contains(e.Output[0]) || !Readers(e.Output[0]).All(gru.Contains))
                || shapes.Any(s => outputs.Contains(s.Output[0]) || !Readers(s.Output[0]).All(expands.Contains))) continue;
            if (gru.Concat(expands).Concat(shapes).Any(removed.Contains)) continue;

            replacements[inputConcat] = Node(BinaryConvSchema.GruStateConcat, Fused(inputConcat), [x, h], [inputConcat.Output[0]]);
            replacements[sigmoid] = Node(BinaryConvSchema.GruGates, Fused(sigmoid), [x, sigmoid.Input[0], h], [z, hiddenConcat.Output[0]]);
            replacements[next] = Node(BinaryConvSchema.GruUpdate, Fused(next), [tanh.Input[0], z, h], [next.Output[0]]);
            foreach (var n in gru.Concat(expands).Concat(shapes)) removed.Add(n);
            fused++;
        }
        if (fused == 0) return 0;
        var rewritten = GraphQueries.Rewritten(nodes, replacements, removed);
        nodes.Clear();
        nodes.AddRange(rewritten);
        // The constant 1 and the split sizes only the removed nodes read: ORT warns about unused initializers.
        GraphQueries.RemoveUnreadInitializers(graph, nodes, removed.SelectMany(n => n.Input).Where(initializers.ContainsKey));
        return fused;
    }

    /// <summary>How many ConvGRUs <paramref name="model"/>'s main graph has fused (its GruUpdate nodes, and its ConvGru nodes: <see cref="ConvGruFusion"/>).</summary>
    public static int Count(ModelProto model) =>
        model.Graph.Node.Count(n => n.OpType is BinaryConvSchema.GruUpdate or BinaryConvSchema.ConvGru && n.Domain == BinaryConvSchema.Domain);

    /// <summary>Whether <paramref name="node"/> is one of the three fused ConvGRU ops.</summary>
    public static bool IsFused(NodeProto node) =>
        node.Domain == BinaryConvSchema.Domain && node.OpType is BinaryConvSchema.GruStateConcat or BinaryConvSchema.GruGates or BinaryConvSchema.GruUpdate;

    /// <summary>
    /// The inverse for one fused node: the standard ops it stands for appended to <paramref name="nodes"/>, the
    /// constant 1 added to <paramref name="graph"/>. The Muls read the state as it is (ONNX's Mul broadcasts as the
    /// Expand did); GruStateConcat expands it for the Concat. Split divides into equal halves without a split input
    /// (opset 13 to 17) or with num_outputs = 2 (opset 18 and later, <paramref name="opset"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The node does not have the op's inputs and outputs.</exception>
    public static void Unfuse(GraphProto graph, NodeProto node, List<NodeProto> nodes, long opset)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(nodes);
        string name = node.Name.Length > 0 ? node.Name : node.Output[0];
        (int inputs, int outputs) = node.OpType switch
        {
            BinaryConvSchema.GruStateConcat => (BinaryConvSchema.GruStateConcatInputCount, 1),
            BinaryConvSchema.GruGates => (BinaryConvSchema.GruGatesInputCount, BinaryConvSchema.GruGatesOutputCount),
            BinaryConvSchema.GruUpdate => (BinaryConvSchema.GruUpdateInputCount, 1),
            _ => throw new ArgumentException($"{name}: {node.OpType} is not a fused ConvGRU op", nameof(node)),
        };
        if (node.Input.Count != inputs || node.Output.Count != outputs || node.Input.Concat(node.Output).Any(s => s.Length == 0))
            throw new ArgumentException($"{name}: {node.OpType} needs {inputs} inputs and {outputs} outputs, all named", nameof(node));
        switch (node.OpType)
        {
            case BinaryConvSchema.GruStateConcat:
            {
                string x = node.Input[BinaryConvSchema.GruX];
                var shape = Add(nodes, "Shape", name + ".x_shape", [x]);
                var state = Add(nodes, "Expand", name + ".expand_state", [node.Input[BinaryConvSchema.GruStateConcatState], shape]);
                Emit(nodes, "Concat", name + ".concat", [x, state], node.Output[0]).Attribute.Add(Axis1());
                break;
            }
            case BinaryConvSchema.GruGates:
            {
                var gates = Add(nodes, "Sigmoid", name + ".sigmoid", [node.Input[BinaryConvSchema.GruGatesPreactivation]]);
                var split = new NodeProto { OpType = "Split", Name = name + ".split" };
                split.Input.Add(gates);
                split.Output.AddRange([name + ".r", node.Output[BinaryConvSchema.GruGatesZ]]);
                split.Attribute.Add(Axis1());
                if (opset >= 18) split.Attribute.Add(new AttributeProto { Name = "num_outputs", Type = AttributeProto.Types.AttributeType.Int, I = 2 });
                nodes.Add(split);
                var reset = Add(nodes, "Mul", name + ".r_h", [split.Output[0], node.Input[BinaryConvSchema.GruGatesState]]);
                Emit(nodes, "Concat", name + ".concat", [node.Input[BinaryConvSchema.GruX], reset], node.Output[BinaryConvSchema.GruGatesY]).Attribute.Add(Axis1());
                break;
            }
            default:
            {
                const string one = "gru.one";
                if (!graph.Initializer.Any(t => t.Name == one)) graph.Initializer.Add(Tensors.Float(one, [1f], 1));
                string z = node.Input[BinaryConvSchema.GruUpdateZ], state = node.Input[BinaryConvSchema.GruUpdateState];
                var candidate = Add(nodes, "Tanh", name + ".tanh", [node.Input[BinaryConvSchema.GruUpdateCandidate]]);
                var oneMinusZ = Add(nodes, "Sub", name + ".one_minus_z", [one, z]);
                var keep = Add(nodes, "Mul", name + ".keep", [oneMinusZ, state]);
                var update = Add(nodes, "Mul", name + ".update", [z, candidate]);
                Add(nodes, "Add", name + ".h_next", [keep, update], node.Output[0]);
                break;
            }
        }
    }

    /// <summary>The tensors a node reads, its sub-graphs' included (an If branch reads outer initializers).</summary>
    private static IEnumerable<string> Inputs(NodeProto node) =>
        node.Input.Concat(node.Attribute.SelectMany(a => (a.G is { } g ? new[] { g } : a.Graphs.ToArray()).SelectMany(g => g.Node.SelectMany(Inputs))));

    private static string Fused(NodeProto node) => (node.Name.Length > 0 ? node.Name : node.Output[0]) + ".fused";

    private static NodeProto Node(string opType, string name, string[] inputs, string[] outputs)
    {
        var node = new NodeProto { OpType = opType, Domain = BinaryConvSchema.Domain, Name = name };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        return node;
    }

    private static NodeProto Emit(List<NodeProto> nodes, string opType, string name, string[] inputs, string? output = null)
    {
        var node = GraphQueries.StandardNode(opType, name, inputs, output ?? name);
        nodes.Add(node);
        return node;
    }

    private static string Add(List<NodeProto> nodes, string opType, string name, string[] inputs, string? output = null) => Emit(nodes, opType, name, inputs, output).Output[0];

    private static AttributeProto Axis1() => new() { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 };

    private static bool ChannelConcat(NodeProto concat) =>
        concat.Input.Count == 2 && concat.Attribute.FirstOrDefault(a => a.Name == "axis") is { I: 1 } && concat.Attribute.Count == 1;

    /// <summary>Split on axis 1 into two equal halves: a split input or attribute [C, C], or none (equal parts).</summary>
    private static bool IsHalves(NodeProto split, Dictionary<string, TensorProto> initializers)
    {
        if (split.Attribute.FirstOrDefault(a => a.Name == "axis") is not { I: 1 }) return false;
        foreach (var a in split.Attribute)
        {
            bool ok = a.Name switch
            {
                "axis" => true,
                "num_outputs" => a.I == 2,
                "split" => a.Ints.Count == 2 && a.Ints[0] == a.Ints[1],
                _ => false,
            };
            if (!ok) return false;
        }
        if (split.Input.Count < 2 || split.Input[1].Length == 0) return true;
        return split.Input.Count == 2 && initializers.TryGetValue(split.Input[1], out var sizes) && Tensors.Int64Values(sizes) is [var a0, var a1] && a0 == a1;
    }

}
