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
        GraphQueries.WithSubgraphs(model.Graph).Sum(g => g.Node.Count(n => IsStatistics(n) && Input(n, BinaryConvSchema.StatisticsHiddenPacked).Length > 0));

    /// <summary>Whether <paramref name="node"/> packs a Hidden for GuidedStatistics (its float output then the empty name).</summary>
    internal static bool IsHandingHidden(NodeProto node) => node.Output.Any(o => o.EndsWith(Suffix, StringComparison.Ordinal));

    private static bool IsStatistics(NodeProto n) => n.OpType == BinaryConvSchema.GuidedStatistics && n.Domain == BinaryConvSchema.Domain;

    private static string Input(NodeProto node, int i) => node.Input.Count > i ? node.Input[i] : "";

    /// <summary>Rewrites the main graph's <paramref name="nodes"/> and the GuidedStatistics in its If branches (in place); returns how many now read Hidden packed.</summary>
    internal static int Apply(List<NodeProto> nodes, GraphProto graph, Dictionary<string, TensorProto> initializers, ISet<string> graphOutputs)
    {
        var branches = GraphQueries.Subgraphs(graph).ToList();
        var (readers, producers) = GraphQueries.ReadersAndProducers(nodes.Concat(branches.SelectMany(g => g.Node)));
        int handed = 0;
        foreach (var statistics in nodes.Concat(branches.SelectMany(g => g.Node)).Where(IsStatistics).ToList())
        {
            string t = Input(statistics, BinaryConvSchema.StatisticsHidden);
            if (t.Length == 0 || Input(statistics, BinaryConvSchema.StatisticsHiddenPacked).Length > 0) continue;
            if (statistics.Output[BinaryConvSchema.StatisticsStats].Length > 0 || statistics.Output.Count <= BinaryConvSchema.StatisticsPacked) continue;
            if (statistics.Attribute.FirstOrDefault(a => a.Name == BinaryConvSchema.TauNext) is not { } tauNext) continue;
            if (graphOutputs.Contains(t) || readers.GetValueOrDefault(t) != 1 || !producers.TryGetValue(t, out var glue) || !nodes.Contains(glue)) continue;
            if (glue.OpType != BinaryConvSchema.ShortcutRPReLU || glue.Domain != BinaryConvSchema.Domain || glue.Output[0] != t) continue;
            if (Input(glue, BinaryConvSchema.ActivationTauNext).Length > 0 || glue.Output.Count > BinaryConvSchema.ActivationPackedOutput && glue.Output[BinaryConvSchema.ActivationPackedOutput].Length > 0) continue;
            if (!initializers.TryGetValue(Input(glue, BinaryConvSchema.ActivationShiftIn), out var shift)) continue;
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
        return handed;
    }

    /// <summary>
    /// The inverse, in place on <paramref name="model"/>: the glue writes its float Y again (no TauNext, no YPacked) and
    /// GuidedStatistics reads it as Hidden; the τ initializer goes.
    /// </summary>
    public static void Restore(ModelProto model)
    {
        var graphs = GraphQueries.WithSubgraphs(model.Graph).ToList();
        foreach (var statistics in graphs.SelectMany(g => g.Node).Where(IsStatistics).ToList())
        {
            string packed = Input(statistics, BinaryConvSchema.StatisticsHiddenPacked);
            if (!packed.EndsWith(Suffix, StringComparison.Ordinal)) continue;
            string t = packed[..^Suffix.Length];
            statistics.Input[BinaryConvSchema.StatisticsHidden] = t;
            statistics.Input[BinaryConvSchema.StatisticsHiddenPacked] = "";
            GraphQueries.TrimEmpty(statistics.Input, BinaryConvSchema.StatisticsHidden + 1);
            var glue = graphs.SelectMany(g => g.Node).Single(n => n.Output.Contains(packed));
            glue.Output[0] = t;
            glue.Output[BinaryConvSchema.ActivationPackedOutput] = "";
            GraphQueries.TrimEmpty(glue.Output, 1);
            glue.Input[BinaryConvSchema.ActivationTauNext] = "";
            GraphQueries.TrimEmpty(glue.Input, BinaryConvSchema.ActivationShiftOut + 1);
            foreach (var stale in model.Graph.Initializer.Where(i => i.Name == t + TauSuffix).ToList()) model.Graph.Initializer.Remove(stale);
        }
    }
}
