using BiVM.Contracts;
using Onnx;
using static BiVM.Graph.GraphQueries;

namespace BiVM.Graph;

/// <summary>
/// The Deep Guided Filter's full-resolution tail as one <c>ai.bivm:GuidedUpsample</c> node (docs/export.md,
/// "Fusion"). The exporter writes, inside the else branch of the <c>If</c> on downsample_ratio ≠ 1,
/// <code>
///   A' = Resize(A, sizes = [N, C, H(src), W(src)])   b' = Resize(b, …)   (linear, pytorch_half_pixel)
///   x = Concat(src, ReduceMean(src, axes = [1]))     out = Add(Mul(A', x), b')     (r, α) = Split(out, [3, 1])
/// </code>
/// and, in the main graph after the If, fgr = Clip(Add(r, src), 0, 1) and pha = Clip(α, 0, 1). The pass first moves
/// that tail into both branches (the If's outputs become fgr and pha: the same values on either path), then replaces
/// the else branch's chain, tail included, by GuidedUpsample(A, b, src) → (fgr, pha). The then branch (downsample 1:
/// no DGF) is left with the tail alone on the head's (r, α) = Split(P, [3, 1]); that becomes GuidedUpsample without A,
/// GuidedUpsample("", P, src), one pass instead of an Add and two Clips, and where the Split's two outputs are then read
/// only by a Concat that puts them back together (the else branch's Y of the DGF statistics), that Concat reads P
/// instead and the Split goes (<see cref="FuseSkippedTail"/>). <see cref="Unfuse"/> writes the standard ops back in
/// the branch (tail included; the then branch's Split in the branch), which this pass fuses again; a fused file has
/// nothing left to fuse.
/// </summary>
public static class GuidedUpsampleFusion
{
    /// <summary>Fuses every matching If in <paramref name="model"/> (changed in place); returns how many.</summary>
    public static int Apply(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var main = model.Graph;
        int fused = 0;
        foreach (var choice in main.Node.Where(n => n.OpType == "If" && n.Domain.Length == 0).ToList())
        {
            var (then, otherwise) = (Branch(choice, "then_branch"), Branch(choice, "else_branch"));
            if (then is null || otherwise is null || then.Output.Count != 2 || otherwise.Output.Count != 2) continue;
            var scope = new Scope(main, otherwise);
            if (MatchTail(scope, otherwise.Output[0].Name, otherwise.Output[1].Name) is null)
            {
                // The exporter's form: the tail still follows the If in the main graph.
                if (MatchCore(scope, otherwise.Output[0].Name, otherwise.Output[1].Name) is null || !SinkTail(main, choice, then, otherwise)) continue;
                scope = new Scope(main, otherwise);
            }
            if (MatchTail(scope, otherwise.Output[0].Name, otherwise.Output[1].Name) is not { } chain) continue;
            Replace(otherwise, chain);
            fused++;
        }
        foreach (var choice in main.Node.Where(n => n.OpType == "If" && n.Domain.Length == 0).ToList())
            if (Branch(choice, "then_branch") is { } then && Branch(choice, "else_branch") is { } otherwise && FuseSkippedTail(main, then, otherwise)) fused++;
        return fused;
    }

    /// <summary>
    /// In the then branch of a DGF If whose else branch is fused already: fgr = Clip(Add(r, src), 0, 1) and
    /// pha = Clip(α, 0, 1) (each of r and α directly or through an Identity) on (r, α) = Split(P, [3, 1], axis 1) become
    /// GuidedUpsample("", P, src) → (fgr, pha); then a Split in the main graph whose outputs are read only by one Concat
    /// of both, in order, on axis 1, is dropped with that Concat (its readers read P). False where nothing matched.
    /// </summary>
    private static bool FuseSkippedTail(GraphProto main, GraphProto then, GraphProto otherwise)
    {
        if (then.Output.Count != 2 || !otherwise.Node.Any(n => n.OpType == BinaryConvSchema.GuidedUpsample && n.Domain == BinaryConvSchema.Domain)) return false;
        var s = new Scope(main, then);
        string fgr = then.Output[0].Name, pha = then.Output[1].Name;
        if (s.Producer(fgr, "Clip") is not { } clipFgr || s.Producer(pha, "Clip") is not { } clipPha || !UnitClip(s, clipFgr) || !UnitClip(s, clipPha)) return false;
        string sum = clipFgr.Input[0];
        if (!s.Private(sum) || s.Producer(sum, "Add") is not { Input.Count: 2 } add) return false;
        var own = then.Node.ToHashSet(ReferenceEqualityComparer.Instance);
        // A name through the Identity that may copy it in the branch, with that Identity.
        (string Name, NodeProto? Identity) Through(string name) =>
            s.Private(name) && s.Producer(name, "Identity") is { Input.Count: 1 } id && own.Contains(id) ? (id.Input[0], id) : (name, null);
        foreach (int at in new[] { 0, 1 })
        {
            var (residual, copyR) = Through(add.Input[at]);
            var (alpha, copyA) = Through(clipPha.Input[0]);
            string src = add.Input[1 - at];
            if (s.Producer(residual, "Split") is not { Output.Count: 2, Input.Count: 2 } split || split.Output[0] != residual || split.Output[1] != alpha
                || Int(split, "axis") != 1 || s.Int64s(split.Input[1]) is not [3, 1]) continue;
            var chain = new List<NodeProto> { add, clipFgr, clipPha };
            chain.AddRange(new[] { copyR, copyA }.OfType<NodeProto>());
            if (own.Contains(split))
            {
                if (!s.Private(residual) || !s.Private(alpha)) continue;
                chain.Add(split);
            }
            var node = new NodeProto { OpType = BinaryConvSchema.GuidedUpsample, Domain = BinaryConvSchema.Domain, Name = (clipFgr.Name.EndsWith(".fgr_clamp", StringComparison.Ordinal) ? clipFgr.Name[..^".fgr_clamp".Length] : fgr) + ".tail" };
            var inputs = new string[BinaryConvSchema.GuidedInputCount];
            inputs[BinaryConvSchema.GuidedA] = "";
            inputs[BinaryConvSchema.GuidedB] = split.Input[0];
            inputs[BinaryConvSchema.GuidedSource] = src;
            node.Input.AddRange(inputs);
            var outputs = new string[BinaryConvSchema.GuidedOutputCount];
            outputs[BinaryConvSchema.GuidedFgr] = fgr;
            outputs[BinaryConvSchema.GuidedPha] = pha;
            node.Output.AddRange(outputs);
            foreach (var n in chain) then.Node.Remove(n);
            then.Node.Add(node);
            if (!own.Contains(split) && DropRejoinedSplit(main, split)) chain.Add(split);
            RemoveUnreadInitializers(main, main.Node, chain.SelectMany(n => n.Input)); // the split sizes and clip bounds
            return true;
        }
        return false;
    }

    /// <summary>
    /// Drops <paramref name="split"/> (a main-graph node) where its outputs are read only by Concat nodes, in any graph,
    /// that take exactly those outputs in order on the Split's axis: each such Concat is P itself, so its readers read P.
    /// </summary>
    private static bool DropRejoinedSplit(GraphProto main, NodeProto split)
    {
        string whole = split.Input[0];
        var parts = split.Output.ToList();
        var graphs = WithSubgraphs(main).ToList();
        var readers = graphs.SelectMany(g => g.Node.Where(n => n.Input.Any(parts.Contains)).Select(n => (Graph: g, Node: n))).ToList();
        if (readers.Count == 0 || graphs.Any(g => g.Output.Any(o => parts.Contains(o.Name)))) return false;
        foreach (var (graph, concat) in readers)
            if (concat is not { OpType: "Concat", Domain: "" } || !concat.Input.SequenceEqual(parts) || Int(concat, "axis") != Int(split, "axis")
                || graph.Output.Any(o => o.Name == concat.Output[0]))
                return false;
        foreach (var (graph, concat) in readers)
        {
            string joined = concat.Output[0];
            foreach (var g in WithSubgraphs(graph))
                foreach (var n in g.Node)
                    for (int i = 0; i < n.Input.Count; i++)
                        if (n.Input[i] == joined) n.Input[i] = whole;
            graph.Node.Remove(concat);
        }
        main.Node.Remove(split);
        return true;
    }

    /// <summary>How many GuidedUpsample nodes <paramref name="model"/> has (in any graph).</summary>
    public static int Count(ModelProto model) =>
        WithSubgraphs(model.Graph).Sum(g => g.Node.Count(n => n.OpType == BinaryConvSchema.GuidedUpsample && n.Domain == BinaryConvSchema.Domain));

    /// <summary>Every GuidedUpsample (in the main graph or any sub-graph) written back as the standard ops it stands for.</summary>
    public static void Unfuse(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var main = model.Graph;
        foreach (var graph in WithSubgraphs(main).ToList())
        {
            for (int i = 0; i < graph.Node.Count; i++)
            {
                var node = graph.Node[i];
                if (node.OpType != BinaryConvSchema.GuidedUpsample || node.Domain != BinaryConvSchema.Domain) continue;
                var ops = Expand(main, node);
                graph.Node.RemoveAt(i);
                for (int j = 0; j < ops.Count; j++) graph.Node.Insert(i + j, ops[j]);
                i += ops.Count - 1;
            }
        }
    }

    /// <summary>The nodes of the matched chain and its three inputs (A, b at the working size; src at full size).</summary>
    private sealed record Chain(string A, string B, string Src, string Fgr, string Pha, string Name, List<NodeProto> Nodes);

    /// <summary>Producers of names visible in a branch: its own nodes first, then the main graph's (outer scope).</summary>
    private sealed class Scope
    {
        private readonly Dictionary<string, NodeProto> _producers = new();
        private readonly Dictionary<string, int> _uses = new();
        public readonly Dictionary<string, TensorProto> Initializers;
        public readonly HashSet<string> BranchOutputs;

        public Scope(GraphProto main, GraphProto branch)
        {
            Initializers = main.Initializer.Concat(branch.Initializer).GroupBy(t => t.Name).ToDictionary(g => g.Key, g => g.Last());
            foreach (var n in main.Node) foreach (var o in n.Output) _producers[o] = n;
            foreach (var n in branch.Node)
            {
                foreach (var o in n.Output) _producers[o] = n;
                foreach (var i in n.Input) _uses[i] = _uses.GetValueOrDefault(i) + 1;
            }
            BranchOutputs = branch.Output.Select(o => o.Name).ToHashSet();
        }

        public NodeProto? Producer(string tensor, string opType) =>
            _producers.TryGetValue(tensor, out var n) && n.OpType == opType && n.Domain.Length == 0 ? n : null;

        /// <summary>Read by exactly one node of the branch and not a branch output.</summary>
        public bool Private(string tensor) => _uses.GetValueOrDefault(tensor) == 1 && !BranchOutputs.Contains(tensor);

        public long[]? Int64s(string name) => Initializers.TryGetValue(name, out var t) ? Tensors.Int64Values(t) : null;

        public float? Scalar(string name) =>
            Initializers.TryGetValue(name, out var t) && Tensors.IsFloatScalar(t) ? Tensors.FloatValues(t)![0] : null;
    }

    private static GraphProto? Branch(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name)?.G;

    /// <summary>
    /// (r, α) = Split(Add(Mul(Resize(A), Concat(src, ReduceMean(src))), Resize(b)), [3, 1]) with every intermediate
    /// private to the chain; null where anything differs.
    /// </summary>
    private static Chain? MatchCore(Scope s, string residual, string alpha)
    {
        if (s.Producer(residual, "Split") is not { } split || split.Output.Count != 2 || split.Output[0] != residual || split.Output[1] != alpha) return null;
        if (Int(split, "axis") != 1 || split.Input.Count != 2 || s.Int64s(split.Input[1]) is not [3, 1]) return null;
        string output = split.Input[0];
        if (!s.Private(output) || s.Producer(output, "Add") is not { Input.Count: 2 } add) return null;
        foreach (int mulAt in new[] { 0, 1 })
        {
            string product = add.Input[mulAt], fineB = add.Input[1 - mulAt];
            if (!s.Private(product) || s.Producer(product, "Mul") is not { Input.Count: 2 } mul) continue;
            foreach (int resizeAt in new[] { 0, 1 })
            {
                string fineA = mul.Input[resizeAt], guide = mul.Input[1 - resizeAt];
                if (!s.Private(fineA) || !s.Private(fineB) || !s.Private(guide)) continue;
                if (s.Producer(guide, "Concat") is not { Input.Count: 2 } concat || Int(concat, "axis") != 1) continue;
                string src = concat.Input[0];
                if (!s.Private(concat.Input[1]) || s.Producer(concat.Input[1], "ReduceMean") is not { } mean || mean.Input.Count != 1 || mean.Input[0] != src
                    || Int(mean, "keepdims") != 1 || Ints(mean, "axes") is not [1]) continue;
                if (ResizeToFrame(s, fineA, src) is not { } resizeA || ResizeToFrame(s, fineB, src) is not { } resizeB) continue;
                string name = split.Name.EndsWith(".split", StringComparison.Ordinal) ? split.Name[..^".split".Length] : split.Name;
                return new Chain(resizeA.Input[0], resizeB.Input[0], src, residual, alpha, name, [resizeA, resizeB, mean, concat, mul, add, split]);
            }
        }
        return null;
    }

    /// <summary>The core chain followed by fgr = Clip(Add(r, src), 0, 1) and pha = Clip(α, 0, 1), both branch outputs.</summary>
    private static Chain? MatchTail(Scope s, string fgr, string pha)
    {
        if (s.Producer(fgr, "Clip") is not { } clipFgr || s.Producer(pha, "Clip") is not { } clipPha) return null;
        if (!UnitClip(s, clipFgr) || !UnitClip(s, clipPha)) return null;
        string sum = clipFgr.Input[0];
        if (!s.Private(sum) || s.Producer(sum, "Add") is not { Input.Count: 2 } add) return null;
        foreach (int at in new[] { 0, 1 })
        {
            string residual = add.Input[at];
            if (!s.Private(residual) || !s.Private(clipPha.Input[0])) continue;
            if (MatchCore(s, residual, clipPha.Input[0]) is not { } core || add.Input[1 - at] != core.Src) continue;
            return core with { Fgr = fgr, Pha = pha, Nodes = [.. core.Nodes, add, clipFgr, clipPha] };
        }
        return null;
    }

    /// <summary>Clip(x, min, max) with constant min 0 and max 1.</summary>
    private static bool UnitClip(Scope s, NodeProto clip) =>
        clip.Input.Count == 3 && s.Scalar(clip.Input[1]) == 0f && s.Scalar(clip.Input[2]) == 1f;

    /// <summary>
    /// The Resize (linear, pytorch_half_pixel, no other attribute) that writes <paramref name="fine"/> at
    /// <paramref name="src"/>'s H×W: its sizes are Concat(Shape(x)[0:2], Shape(src)[2:4]).
    /// </summary>
    private static NodeProto? ResizeToFrame(Scope s, string fine, string src)
    {
        if (s.Producer(fine, "Resize") is not { } resize || resize.Input.Count != 4 || resize.Input[1].Length > 0 || resize.Input[2].Length > 0) return null;
        if (resize.Attribute.Count != 2 || Text(resize, "mode") != "linear" || Text(resize, "coordinate_transformation_mode") != "pytorch_half_pixel") return null;
        if (s.Producer(resize.Input[3], "Concat") is not { Input.Count: 2 } sizes || Int(sizes, "axis") != 0) return null;
        return ShapeSlice(s, sizes.Input[0], resize.Input[0], 0, 2) && ShapeSlice(s, sizes.Input[1], src, 2, 4) ? resize : null;
    }

    /// <summary>Whether <paramref name="tensor"/> is Slice(Shape(<paramref name="of"/>), [start], [end]).</summary>
    private static bool ShapeSlice(Scope s, string tensor, string of, long start, long end) =>
        s.Producer(tensor, "Slice") is { Input.Count: 3 } slice && s.Producer(slice.Input[0], "Shape") is { Input.Count: 1, Attribute.Count: 0 } shape
        && shape.Input[0] == of && s.Int64s(slice.Input[1]) is [var a] && a == start && s.Int64s(slice.Input[2]) is [var b] && b == end;

    /// <summary>
    /// Moves fgr = Clip(Add(If[0], src), 0, 1) and pha = Clip(If[1], 0, 1) from after the If into both branches; the
    /// If then writes fgr and pha itself. False (nothing changed) where the If's outputs are read otherwise.
    /// </summary>
    private static bool SinkTail(GraphProto main, NodeProto choice, GraphProto then, GraphProto otherwise)
    {
        string first = choice.Output[0], second = choice.Output[1];
        var readers = main.Node.Where(n => n.Input.Contains(first) || n.Input.Contains(second)).ToList();
        if (readers.Count != 2 || main.Output.Any(o => o.Name == first || o.Name == second)) return false;
        var add = readers.FirstOrDefault(n => n is { OpType: "Add", Domain: "", Input.Count: 2 } && n.Input.Contains(first));
        var clipPha = readers.FirstOrDefault(n => n is { OpType: "Clip", Domain: "", Input.Count: 3 } && n.Input[0] == second);
        if (add is null || clipPha is null || add.Input.Count(i => i == first) != 1) return false;
        string src = add.Input[add.Input[0] == first ? 1 : 0];
        var sumReaders = main.Node.Where(n => n.Input.Contains(add.Output[0])).ToList();
        if (sumReaders is not [{ OpType: "Clip", Domain: "", Input.Count: 3 } clipFgr] || clipFgr.Input[0] != add.Output[0] || main.Output.Any(o => o.Name == add.Output[0])) return false;
        var scope = new Scope(main, otherwise);
        if (!UnitClip(scope, clipFgr) || !UnitClip(scope, clipPha)) return false;
        string fgr = clipFgr.Output[0], pha = clipPha.Output[0];
        foreach (var (branch, tag) in new[] { (then, "then"), (otherwise, "else") })
        {
            string r = branch.Output[0].Name, a = branch.Output[1].Name, prefix = $"{choice.Name}.{tag}";
            branch.Node.Add(Node("Add", $"{prefix}.fgr_residual", [r, src], $"{prefix}.fgr_sum"));
            branch.Node.Add(Node("Clip", $"{prefix}.fgr_clamp", [$"{prefix}.fgr_sum", clipFgr.Input[1], clipFgr.Input[2]], $"{prefix}.fgr"));
            branch.Node.Add(Node("Clip", $"{prefix}.pha_clamp", [a, clipPha.Input[1], clipPha.Input[2]], $"{prefix}.pha"));
            branch.Output[0].Name = $"{prefix}.fgr";
            branch.Output[1].Name = $"{prefix}.pha";
        }
        foreach (var n in new[] { add, clipFgr, clipPha }) main.Node.Remove(n);
        choice.Output[0] = fgr;
        choice.Output[1] = pha;
        return true;
    }

    /// <summary>
    /// Replaces the chain's nodes by one GuidedUpsample where its last node stood (A and b are computed after the
    /// exporter's first chain node, the guide's ReduceMean, but before the last), then drops what only they read.
    /// </summary>
    private static void Replace(GraphProto branch, Chain chain)
    {
        var node = new NodeProto { OpType = BinaryConvSchema.GuidedUpsample, Domain = BinaryConvSchema.Domain, Name = chain.Name + ".guided_upsample" };
        var inputs = new string[BinaryConvSchema.GuidedInputCount];
        inputs[BinaryConvSchema.GuidedA] = chain.A;
        inputs[BinaryConvSchema.GuidedB] = chain.B;
        inputs[BinaryConvSchema.GuidedSource] = chain.Src;
        node.Input.AddRange(inputs);
        var outputs = new string[BinaryConvSchema.GuidedOutputCount];
        outputs[BinaryConvSchema.GuidedFgr] = chain.Fgr;
        outputs[BinaryConvSchema.GuidedPha] = chain.Pha;
        node.Output.AddRange(outputs);
        var removed = new HashSet<NodeProto>(chain.Nodes, ReferenceEqualityComparer.Instance);
        int at = branch.Node.Select((n, i) => (n, i)).Last(p => removed.Contains(p.n)).i;
        at -= branch.Node.Take(at).Count(removed.Contains);
        foreach (var n in chain.Nodes) branch.Node.Remove(n);
        branch.Node.Insert(at, node);
        // The sizes' Shape, Slice and Concat nodes fed only the Resizes.
        var outputsOfBranch = branch.Output.Select(o => o.Name).ToHashSet();
        bool changed = true;
        while (changed)
        {
            var read = branch.Node.SelectMany(n => n.Input).Concat(branch.Node.SelectMany(InnerReads)).ToHashSet();
            var dead = branch.Node.Where(n => n.Output.All(o => !read.Contains(o) && !outputsOfBranch.Contains(o))).ToList();
            foreach (var n in dead) branch.Node.Remove(n);
            changed = dead.Count > 0;
        }
    }

    /// <summary>Names a node's sub-graphs read (they may read this graph's tensors from the outer scope).</summary>
    private static IEnumerable<string> InnerReads(NodeProto node) =>
        node.Attribute.SelectMany(a => a.G is { } g ? [g] : a.Graphs.ToList()).SelectMany(g => g.Node.SelectMany(n => n.Input.Concat(InnerReads(n))));

    /// <summary>GuidedUpsample as standard ops, its constants added to the main graph under bivm.guided.* names.</summary>
    private static List<NodeProto> Expand(GraphProto main, NodeProto node)
    {
        string name = node.Name.Length > 0 ? node.Name : node.Output[0];
        if (node.Input.Count != BinaryConvSchema.GuidedInputCount || node.Output.Count != BinaryConvSchema.GuidedOutputCount)
            throw new ArgumentException($"{name}: {BinaryConvSchema.GuidedUpsample} needs inputs A, B, Src and outputs Fgr, Pha", nameof(node));
        string a = node.Input[BinaryConvSchema.GuidedA], b = node.Input[BinaryConvSchema.GuidedB], src = node.Input[BinaryConvSchema.GuidedSource];
        bool tailAlone = a.Length == 0;
        string Constant(string suffix, Func<string, TensorProto> make)
        {
            string n = "bivm.guided." + suffix;
            if (!main.Initializer.Any(t => t.Name == n)) main.Initializer.Add(make(n));
            return n;
        }
        string split31 = Constant("split_3_1", n => Tensors.Int64(n, [3L, 1L], 2));
        string zero = Constant("zero", n => Tensors.Float(n, [0f], 1)), one = Constant("one", n => Tensors.Float(n, [1f], 1));
        var ops = new List<NodeProto>();
        string Op(string op, string suffix, string[] inputs, string? output = null)
        {
            var n = Node(op, $"{name}.{suffix}", inputs, output ?? $"{name}.{suffix}");
            ops.Add(n);
            return n.Output[0];
        }
        // Without A (the tail alone, at downsample 1) the tail splits B as it is.
        string output = tailAlone ? b : Filtered();
        string Filtered()
        {
            string i0 = Constant("i0", n => Tensors.Int64(n, [0L], 1)), i2 = Constant("i2", n => Tensors.Int64(n, [2L], 1)), i4 = Constant("i4", n => Tensors.Int64(n, [4L], 1));
            string frame = Op("Slice", "src_hw", [Op("Shape", "src_shape", [src]), i2, i4]);
            string Resize(string x, string tag)
            {
                string nc = Op("Slice", tag + "_nc", [Op("Shape", tag + "_shape", [x]), i0, i2]);
                string sizes = Op("Concat", tag + "_sizes", [nc, frame]);
                ops[^1].Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 0 });
                string r = Op("Resize", tag + "_resize", [x, "", "", sizes]);
                ops[^1].Attribute.Add(new AttributeProto { Name = "mode", Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8("linear") });
                ops[^1].Attribute.Add(new AttributeProto { Name = "coordinate_transformation_mode", Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8("pytorch_half_pixel") });
                return r;
            }
            string fineA = Resize(a, "a"), fineB = Resize(b, "b");
            string mean = Op("ReduceMean", "mean", [src]);
            ops[^1].Attribute.Add(new AttributeProto { Name = "axes", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 1L } });
            ops[^1].Attribute.Add(new AttributeProto { Name = "keepdims", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
            string guide = Op("Concat", "guide", [src, mean]);
            ops[^1].Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
            return Op("Add", "output", [Op("Mul", "a_x", [fineA, guide]), fineB]);
        }
        var split = Node("Split", $"{name}.split", [output, split31], $"{name}.residual");
        split.Output.Add($"{name}.alpha");
        split.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        ops.Add(split);
        string sum = Op("Add", "fgr_sum", [split.Output[0], src]);
        Op("Clip", "fgr_clamp", [sum, zero, one], node.Output[BinaryConvSchema.GuidedFgr]);
        Op("Clip", "pha_clamp", [split.Output[1], zero, one], node.Output[BinaryConvSchema.GuidedPha]);
        return ops;
    }

    private static NodeProto Node(string opType, string name, string[] inputs, string output) => GraphQueries.StandardNode(opType, name, inputs, output);
}
