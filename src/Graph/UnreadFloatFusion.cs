using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// The pass after <see cref="SparseHandOffFusion"/>: float tensors that no op reads are not written. Where the float
/// output of a <c>ShortcutRPReLU</c>, an <c>Upsample2xConcat</c> or a <c>GuidedStatistics</c> (its Stats) is read by
/// nothing, or only as the X of folded 1×1 convs' glues or of dense binary convs that take their input packed by that
/// same op (X then gives only shapes, which those take from PointwiseXPacked or XPacked instead), and is no graph
/// output and read in no If branch,
/// the op names it the empty name and writes only its other outputs (the packed bits, a glue's projection), forming
/// each row in scratch for them; those readers' X becomes the empty name too. In the shipped bivm these are the DGF
/// refiner's tensors at the working size: GuidedStatistics' 24-channel Stats, refiner.conv1's Y (16 channels, read by
/// refiner.conv2's folded glue for its shape) and refiner.conv2's Y (read only by the projection in its own node).
/// Also every decoder concatenation (decode0 to decode3: read by their folded or dense 1×1 and, through
/// <see cref="SparseHandOffFusion"/>'s second packed output, by their folded sparse 3×3) and decode0's first glue. The
/// same bits. <see cref="Restore"/> is the inverse.
/// </summary>
/// <remarks>
/// A producer must keep one written output. Restore names a float tensor again after its packed output (<c>t + ".packed"</c>,
/// as <see cref="GlueFusion"/> names a packed hand-off, or <c>t + ".packed_second"</c>), or for a glue with only a
/// projection after the node (<c>node + ".y"</c>: nothing but the projection read it, so no other node names it).
/// </remarks>
public static class UnreadFloatFusion
{
    /// <summary>Suffix of a restored float Y that nothing read but its own node's projection: the node's name + this.</summary>
    public const string ProjectionInputSuffix = ".y";

    private const string PackedSuffix = ".packed";

    /// <summary>
    /// How many ops of <paramref name="model"/> (main graph and If branches) write no float output (those
    /// <see cref="SparseHandOffFusion"/> left so included; not the glue that hands Hidden over, <see cref="HiddenHandOffFusion"/>'s).
    /// </summary>
    public static int Count(ModelProto model) =>
        GraphQueries.WithSubgraphs(model.Graph).Sum(g => g.Node.Count(n => IsProducer(n) && n.Output.Count > 0 && n.Output[0].Length == 0 && !HiddenHandOffFusion.IsHandingHidden(n)));

    private static bool IsProducer(NodeProto n) => n.Domain == BinaryConvSchema.Domain
        && n.OpType is BinaryConvSchema.ShortcutRPReLU or BinaryConvSchema.Upsample2xConcat or BinaryConvSchema.GuidedStatistics;

    /// <summary>
    /// Where <paramref name="reader"/> takes a float tensor for its shape alone, the bits coming packed beside it: a folded
    /// 1×1 glue's X (bits: PointwiseXPacked) or a dense binary conv's X (bits: XPacked); otherwise null.
    /// </summary>
    private static int? ShapeReaderAt(NodeProto reader) =>
        PointwiseFusion.IsFolded(reader) ? BinaryConvSchema.ActivationX
        : reader.OpType == BinaryConvSchema.BinaryConv2d && reader.Domain == BinaryConvSchema.Domain && GraphQueries.InputAt(reader, BinaryConvSchema.InputXPacked).Length > 0 ? BinaryConvSchema.InputX
        : null;

    /// <summary>The input at which a shape-only reader (<see cref="ShapeReaderAt"/>) takes the bits.</summary>
    private static int PackedInputOf(NodeProto reader) =>
        PointwiseFusion.IsFolded(reader) ? BinaryConvSchema.ActivationPointwiseXPacked : BinaryConvSchema.InputXPacked;

    /// <summary>Rewrites <paramref name="nodes"/> (a graph's, in place); returns how many float outputs are no longer written.</summary>
    internal static int Apply(List<NodeProto> nodes, GraphProto graph, ISet<string> graphOutputs)
    {
        var branchReads = GraphQueries.BranchReads(graph);
        int unwritten = 0;
        foreach (var producer in nodes.Where(IsProducer))
        {
            string t = producer.Output.Count > 0 ? producer.Output[0] : "";
            if (t.Length == 0 || graphOutputs.Contains(t) || branchReads.Contains(t)) continue;
            if (!producer.Output.Skip(1).Any(o => o.Length > 0)) continue; // it would write nothing
            var readers = nodes.Where(n => n.Input.Contains(t)).ToList();
            bool shapesOnly = readers.All(r => r.Input.Count(i => i == t) == 1 && ShapeReaderAt(r) is { } at && r.Input[at] == t
                && producer.Output.Skip(1).Contains(GraphQueries.InputAt(r, PackedInputOf(r))));
            if (!shapesOnly) continue;
            foreach (var r in readers) r.Input[ShapeReaderAt(r)!.Value] = "";
            producer.Output[0] = "";
            unwritten++;
        }
        return unwritten;
    }

    /// <summary>
    /// The inverse, in place on <paramref name="model"/> (main graph and If branches): every float output left unwritten
    /// named again (also those <see cref="SparseHandOffFusion"/> left so, whose hand-offs its own Restore undoes) and read
    /// again as X by the folded glues and dense convs that take its producer's bits; a Hidden handed over as bits too
    /// (<see cref="HiddenHandOffFusion.Restore"/>, run first).
    /// </summary>
    public static void Restore(ModelProto model)
    {
        // A GuidedStatistics given Hidden as bits cannot write Stats: Hidden's floats come back first.
        HiddenHandOffFusion.Restore(model);
        foreach (var graph in GraphQueries.WithSubgraphs(model.Graph).ToList())
        {
            foreach (var node in graph.Node.Where(n => IsProducer(n) && n.Output.Count > 0 && n.Output[0].Length == 0 && !HiddenHandOffFusion.IsHandingHidden(n)))
            {
                int packedAt = node.OpType == BinaryConvSchema.GuidedStatistics ? BinaryConvSchema.StatisticsPacked : BinaryConvSchema.PackedOutput;
                string packed = node.Output.Count > packedAt ? node.Output[packedAt] : "";
                string? second = node.Output.FirstOrDefault(o => o.EndsWith(SparseHandOffFusion.Suffix, StringComparison.Ordinal));
                node.Output[0] = packed.EndsWith(PackedSuffix, StringComparison.Ordinal) ? packed[..^PackedSuffix.Length]
                    : second is not null ? second[..^SparseHandOffFusion.Suffix.Length]
                    : node.OpType == BinaryConvSchema.ShortcutRPReLU && GraphQueries.InputAt(node, BinaryConvSchema.ActivationProjection).Length > 0 ? node.Name + ProjectionInputSuffix
                    : throw new ArgumentException($"{node.Name}: its float output is not written and cannot be named again (no '{PackedSuffix}' output, no projection)", nameof(model));
            }
            var (_, producers) = GraphQueries.ReadersAndProducers(graph.Node);
            foreach (var reader in graph.Node.Where(n => ShapeReaderAt(n) is { } at && n.Input[at].Length == 0))
                if (producers.TryGetValue(GraphQueries.InputAt(reader, PackedInputOf(reader)), out var maker) && IsProducer(maker))
                    reader.Input[ShapeReaderAt(reader)!.Value] = maker.Output[0];
        }
    }
}
