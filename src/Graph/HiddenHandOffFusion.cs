using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// The decoder's last hidden features handed to the DGF's statistics as bits (a pass of <see cref="GlueFusion"/>, on the
/// main graph after the others). GuidedStatistics, in the else branch of the If on downsample_ratio, reads Hidden
/// (decode0's last glue output, 16 channels at the working size) only to copy it into Stats, which only the refiner's
/// first binary conv reads, as StatsPacked (<see cref="UnreadFloatFusion"/>). Where Hidden is made by a
/// <c>ShortcutRPReLU</c> and read by nothing else, that glue packs it instead against tau_next's values for Hidden's
/// channels (input TauNext: a new initializer <c>t + ".hidden_tau"</c>; output YPacked, named <c>t + ".hidden_packed"</c>)
/// and writes no float Y, and GuidedStatistics takes the bits as HiddenPacked and shifts them in above its own 8
/// channels' (model-contract.md). The same bits. At downsample 1 the If's other branch runs and Hidden was written for
/// nothing: 16 float planes at the working size per frame (9.4 MB at 512×288) become one word per pixel.
/// </summary>
/// <remarks><see cref="Restore"/> is the inverse (<see cref="GlueFusion.Unfuse"/> and the <c>Unfolded</c> copies run it first).</remarks>
public static class HiddenHandOffFusion
{
    /// <summary>Suffix of the glue's packed Hidden: the float tensor's name + this.</summary>
    public const string Suffix = ".hidden_packed";

    private const string TauSuffix = ".hidden_tau";

    /// <summary>How many GuidedStatistics nodes of <paramref name="model"/> (any graph) read Hidden as bits.</summary>
    public static int Count(ModelProto model) =>
        GraphQueries.WithSubgraphs(model.Graph).Sum(g => g.Node.Count(n => IsStatistics(n) && GraphQueries.InputAt(n, BinaryConvSchema.StatisticsHiddenPacked).Length > 0));

    /// <summary>Whether <paramref name="node"/> packs a Hidden for GuidedStatistics (its float output then the empty name).</summary>
    internal static bool IsHandingHidden(NodeProto node) => node.Output.Any(o => o.EndsWith(Suffix, StringComparison.Ordinal));

    private static bool IsStatistics(NodeProto n) => n.OpType == BinaryConvSchema.GuidedStatistics && n.Domain == BinaryConvSchema.Domain;

    /// <summary>Rewrites the main graph's <paramref name="nodes"/> and the GuidedStatistics in its If branches (in place); returns how many now read Hidden packed.</summary>
    internal static int Apply(List<NodeProto> nodes, GraphProto graph, Dictionary<string, TensorProto> initializers, ISet<string> graphOutputs)
    {
        var branches = GraphQueries.Subgraphs(graph).ToList();
        var (readers, producers) = GraphQueries.ReadersAndProducers(nodes.Concat(branches.SelectMany(g => g.Node)));
        int handed = 0;
        foreach (var statistics in nodes.Concat(branches.SelectMany(g => g.Node)).Where(IsStatistics).ToList())
        {
            string t = GraphQueries.InputAt(statistics, BinaryConvSchema.StatisticsHidden);
            if (t.Length == 0 || GraphQueries.InputAt(statistics, BinaryConvSchema.StatisticsHiddenPacked).Length > 0) continue;
            if (statistics.Output[BinaryConvSchema.StatisticsStats].Length > 0 || statistics.Output.Count <= BinaryConvSchema.StatisticsPacked) continue;
            if (statistics.Attribute.FirstOrDefault(a => a.Name == BinaryConvSchema.TauNext) is not { } tauNext) continue;
            if (graphOutputs.Contains(t) || readers.GetValueOrDefault(t) != 1 || !producers.TryGetValue(t, out var glue) || !nodes.Contains(glue)) continue;
            if (glue.OpType != BinaryConvSchema.ShortcutRPReLU || glue.Domain != BinaryConvSchema.Domain || glue.Output[0] != t) continue;
            if (GraphQueries.InputAt(glue, BinaryConvSchema.ActivationTauNext).Length > 0 || glue.Output.Count > BinaryConvSchema.ActivationPackedOutput && glue.Output[BinaryConvSchema.ActivationPackedOutput].Length > 0) continue;
            if (!initializers.TryGetValue(GraphQueries.InputAt(glue, BinaryConvSchema.ActivationShiftIn), out var shift)) continue;
            long channels = GlueFusion.Channels(shift);
            if (channels < 1 || tauNext.Floats.Count != 8 + channels || 8 + channels > 64) continue;
            var tau = Tensors.Float(t + TauSuffix, tauNext.Floats.Skip(8).ToArray(), channels);
            graph.Initializer.Add(tau);
            initializers[tau.Name] = tau;
            GraphQueries.SetAt(glue.Input, BinaryConvSchema.ActivationTauNext, tau.Name);
            GraphQueries.SetAt(glue.Output, BinaryConvSchema.ActivationPackedOutput, t + Suffix);
            glue.Output[0] = "";
            statistics.Input[BinaryConvSchema.StatisticsHidden] = "";
            GraphQueries.SetAt(statistics.Input, BinaryConvSchema.StatisticsHiddenPacked, t + Suffix);
            handed++;
        }
        return handed + WireUnread(nodes, graph, initializers);
    }

    /// <summary>
    /// Gives each glue that packs Hidden for a GuidedStatistics in the else branch of an If of the main graph its input
    /// PackedUnread: the If's condition computed again beside the glue (a copy of the node that writes it, named
    /// <c>glue + ".packed_unread"</c>, where that node reads only graph inputs and initializers, as the exporter's
    /// downsample_ratio = 1 does), so that where the then branch runs (downsample 1) the bits are not packed for nothing
    /// (0.991 and 1/1.006 of a 512×288 frame). Only where no node outside that branch reads the bits. Returns how many it wired.
    /// </summary>
    private static int WireUnread(List<NodeProto> nodes, GraphProto graph, Dictionary<string, TensorProto> initializers)
    {
        var sources = graph.Input.Select(i => i.Name).ToHashSet();
        sources.UnionWith(initializers.Keys);
        var (_, producers) = GraphQueries.ReadersAndProducers(nodes);
        int wired = 0;
        foreach (var choice in nodes.Where(n => n.OpType == "If" && n.Domain.Length == 0 && n.Input.Count > 0).ToList())
        {
            if (choice.Attribute.FirstOrDefault(a => a.Name == "else_branch")?.G is not { } otherwise) continue;
            var elsewhere = nodes.Concat(choice.Attribute.Where(a => a.Name != "else_branch" && a.G is not null).SelectMany(a => GraphQueries.WithSubgraphs(a.G)).SelectMany(g => g.Node));
            foreach (var statistics in otherwise.Node.Where(IsStatistics))
            {
                string packed = GraphQueries.InputAt(statistics, BinaryConvSchema.StatisticsHiddenPacked);
                if (!packed.EndsWith(Suffix, StringComparison.Ordinal) || graph.Output.Any(o => o.Name == packed) || elsewhere.Any(n => n.Input.Contains(packed))) continue;
                if (!producers.TryGetValue(packed, out var glue) || GraphQueries.InputAt(glue, BinaryConvSchema.ActivationPackedUnread).Length > 0) continue;
                if (!producers.TryGetValue(choice.Input[0], out var condition) || condition.Attribute.Any(a => a.G is not null || a.Graphs.Count > 0)
                    || !condition.Input.All(i => i.Length == 0 || sources.Contains(i)))
                    continue;
                var copy = condition.Clone();
                copy.Name = glue.Name + UnreadSuffix;
                copy.Output.Clear();
                copy.Output.Add(glue.Name + UnreadSuffix);
                nodes.Insert(nodes.IndexOf(glue), copy);
                GraphQueries.SetAt(glue.Input, BinaryConvSchema.ActivationPackedUnread, copy.Output[0]);
                wired++;
            }
        }
        return wired;
    }

    /// <summary>Suffix of the node (and its output) that computes a hand-off glue's PackedUnread: the glue's name + this.</summary>
    public const string UnreadSuffix = ".packed_unread";

    /// <summary>How many glues of <paramref name="model"/>'s main graph leave Hidden's bits unpacked where the If's other branch runs.</summary>
    public static int UnreadCount(ModelProto model) =>
        model.Graph.Node.Count(n => IsHandingHidden(n) && GraphQueries.InputAt(n, BinaryConvSchema.ActivationPackedUnread).EndsWith(UnreadSuffix, StringComparison.Ordinal));

    /// <summary>
    /// The inverse, in place on <paramref name="model"/>: the glue writes its float Y again (no TauNext, no YPacked) and
    /// GuidedStatistics reads it as Hidden; the τ initializer goes.
    /// </summary>
    public static void Restore(ModelProto model)
    {
        var graphs = GraphQueries.WithSubgraphs(model.Graph).ToList();
        foreach (var statistics in graphs.SelectMany(g => g.Node).Where(IsStatistics).ToList())
        {
            string packed = GraphQueries.InputAt(statistics, BinaryConvSchema.StatisticsHiddenPacked);
            if (!packed.EndsWith(Suffix, StringComparison.Ordinal)) continue;
            string t = packed[..^Suffix.Length];
            statistics.Input[BinaryConvSchema.StatisticsHidden] = t;
            statistics.Input[BinaryConvSchema.StatisticsHiddenPacked] = "";
            GraphQueries.TrimEmpty(statistics.Input, BinaryConvSchema.StatisticsHidden + 1);
            var glue = graphs.SelectMany(g => g.Node).Single(n => n.Output.Contains(packed));
            string unread = GraphQueries.InputAt(glue, BinaryConvSchema.ActivationPackedUnread);
            if (unread.Length > 0)
            {
                glue.Input[BinaryConvSchema.ActivationPackedUnread] = "";
                foreach (var g in graphs)
                    foreach (var stale in g.Node.Where(n => n.Output.Count == 1 && n.Output[0] == unread && unread.EndsWith(UnreadSuffix, StringComparison.Ordinal)).ToList()) g.Node.Remove(stale);
            }
            glue.Output[0] = t;
            glue.Output[BinaryConvSchema.ActivationPackedOutput] = "";
            GraphQueries.TrimEmpty(glue.Output, 1);
            glue.Input[BinaryConvSchema.ActivationTauNext] = "";
            GraphQueries.TrimEmpty(glue.Input, BinaryConvSchema.ActivationShiftOut + 1);
            foreach (var stale in model.Graph.Initializer.Where(i => i.Name == t + TauSuffix).ToList()) model.Graph.Initializer.Remove(stale);
        }
    }
}
