using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// A late pass of <see cref="GlueFusion"/> (after <see cref="ConvGruFusion"/>): where a <c>ConvGru</c>'s X is the
/// YRest of a decoder block's glue (a <c>ShortcutRPReLU</c> with y_split, <see cref="YSplitFusion"/>) and nothing else
/// reads it, the glue writes YRest's bits against the cell's two τ of X's channels (TauNext = IhTau[0..C), TauSecond =
/// HhTau[0..C): YPacked and YPackedSecond) instead of YRest's floats, and the cell reads them as XPackedIh and
/// XPackedHh instead of packing X itself, with X the empty name. The same bits (the same packer on the same values),
/// so the same next state; YRest's floats (decode1's: 2.4 MB a 512×288 frame) are neither written nor read.
/// <see cref="Restore"/> is the inverse, which <see cref="YSplitFusion.Restore"/> runs first (and with it
/// <see cref="GlueFusion.Unfuse"/> and the Unfolded copies).
/// </summary>
/// <remarks>
/// Only where the glue has no TauNext, TauSecond or Projected of its own, YRest is no graph output and read in no If
/// branch, and IhTau and HhTau are initializers of 2C values, C being X's channels (the cell's HhAlpha's).
/// </remarks>
public static class GruHandOffFusion
{
    /// <summary>Suffixes of the bits' names (YRest's name + these) and of the τ initializers' (the glue's name + these).</summary>
    public const string IhSuffix = ".packed_ih", HhSuffix = ".packed_hh";

    private const string IhTauSuffix = ".rest_tau_ih", HhTauSuffix = ".rest_tau_hh";

    /// <summary>How many ConvGru nodes of <paramref name="model"/> (main graph and If branches) read X as bits.</summary>
    public static int Count(ModelProto model) => GraphQueries.WithSubgraphs(model.Graph).Sum(g => g.Node.Count(ReadsBits));

    /// <summary>Whether a node is a ConvGru given XPackedIh (and XPackedHh).</summary>
    public static bool ReadsBits(NodeProto node) =>
        node is { OpType: BinaryConvSchema.ConvGru, Domain: BinaryConvSchema.Domain } && GraphQueries.InputAt(node, BinaryConvSchema.ConvGruXPackedIh).Length > 0;

    /// <summary>Rewrites <paramref name="nodes"/> (a graph's, in place); returns how many cells now read X as bits.</summary>
    internal static int Apply(List<NodeProto> nodes, GraphProto graph, Dictionary<string, TensorProto> initializers, ISet<string> graphOutputs)
    {
        var branchReads = GraphQueries.BranchReads(graph);
        var (readers, producers) = GraphQueries.ReadersAndProducers(nodes);
        int handed = 0;
        foreach (var cell in nodes.Where(n => n is { OpType: BinaryConvSchema.ConvGru, Domain: BinaryConvSchema.Domain } && !ReadsBits(n)))
        {
            string x = GraphQueries.InputAt(cell, BinaryConvSchema.GruX);
            if (x.Length == 0 || readers.GetValueOrDefault(x) != 1 || graphOutputs.Contains(x) || branchReads.Contains(x)) continue;
            if (!producers.TryGetValue(x, out var glue) || !YSplitFusion.IsSplitting(glue) || glue.Output.Count <= BinaryConvSchema.ActivationRestOutput
                || glue.Output[BinaryConvSchema.ActivationRestOutput] != x) continue;
            if (GraphQueries.InputAt(glue, BinaryConvSchema.ActivationTauNext).Length > 0 || GraphQueries.InputAt(glue, BinaryConvSchema.ActivationTauSecond).Length > 0
                || GraphQueries.InputAt(glue, BinaryConvSchema.ActivationProjection).Length > 0) continue;
            if (!initializers.TryGetValue(GraphQueries.InputAt(cell, BinaryConvSchema.ConvGruHhAlpha), out var hhAlpha)) continue;
            long channels = GlueFusion.Channels(hhAlpha);
            if (channels < 1
                || !initializers.TryGetValue(GraphQueries.InputAt(cell, BinaryConvSchema.ConvGruIhTau), out var ihTau) || Tensors.FloatValues(ihTau) is not { } ih || ih.Length != 2 * channels
                || !initializers.TryGetValue(GraphQueries.InputAt(cell, BinaryConvSchema.ConvGruHhTau), out var hhTau) || Tensors.FloatValues(hhTau) is not { } hh || hh.Length != 2 * channels)
                continue;
            string name = glue.Name.Length > 0 ? glue.Name : glue.Output.First(o => o.Length > 0);
            var tauIh = Tensors.Float(name + IhTauSuffix, ih.AsSpan(0, (int)channels), channels);
            var tauHh = Tensors.Float(name + HhTauSuffix, hh.AsSpan(0, (int)channels), channels);
            foreach (var tau in new[] { tauIh, tauHh })
            {
                graph.Initializer.Add(tau);
                initializers[tau.Name] = tau;
            }
            GraphQueries.SetAt(glue.Input, BinaryConvSchema.ActivationTauNext, tauIh.Name);
            GraphQueries.SetAt(glue.Input, BinaryConvSchema.ActivationTauSecond, tauHh.Name);
            GraphQueries.SetAt(glue.Output, BinaryConvSchema.ActivationPackedOutput, x + IhSuffix);
            GraphQueries.SetAt(glue.Output, BinaryConvSchema.ActivationSecondPackedOutput, x + HhSuffix);
            glue.Output[BinaryConvSchema.ActivationRestOutput] = "";
            GraphQueries.TrimEmpty(glue.Output, 1);
            cell.Input[BinaryConvSchema.GruX] = "";
            GraphQueries.SetAt(cell.Input, BinaryConvSchema.ConvGruXPackedIh, x + IhSuffix);
            GraphQueries.SetAt(cell.Input, BinaryConvSchema.ConvGruXPackedHh, x + HhSuffix);
            handed++;
        }
        return handed;
    }

    /// <summary>
    /// The inverse, in place on <paramref name="model"/> (main graph and If branches): the glue writes YRest's floats
    /// again (no TauNext, TauSecond, YPacked or YPackedSecond), the cell reads them as X, and the τ initializers go.
    /// </summary>
    public static void Restore(ModelProto model)
    {
        var graphs = GraphQueries.WithSubgraphs(model.Graph).ToList();
        foreach (var cell in graphs.SelectMany(g => g.Node).Where(ReadsBits).ToList())
        {
            string bits = GraphQueries.InputAt(cell, BinaryConvSchema.ConvGruXPackedIh);
            if (!bits.EndsWith(IhSuffix, StringComparison.Ordinal)) continue;
            string x = bits[..^IhSuffix.Length];
            cell.Input[BinaryConvSchema.GruX] = x;
            cell.Input[BinaryConvSchema.ConvGruXPackedIh] = "";
            cell.Input[BinaryConvSchema.ConvGruXPackedHh] = "";
            GraphQueries.TrimEmpty(cell.Input, BinaryConvSchema.ConvGruHhTau + 1);
            var glue = graphs.SelectMany(g => g.Node).Single(n => n.Output.Contains(bits));
            string[] taus = [glue.Input[BinaryConvSchema.ActivationTauNext], glue.Input[BinaryConvSchema.ActivationTauSecond]];
            glue.Input[BinaryConvSchema.ActivationTauNext] = "";
            glue.Input[BinaryConvSchema.ActivationTauSecond] = "";
            GraphQueries.TrimEmpty(glue.Input, BinaryConvSchema.ActivationShiftOut + 1);
            glue.Output[BinaryConvSchema.ActivationPackedOutput] = "";
            glue.Output[BinaryConvSchema.ActivationSecondPackedOutput] = "";
            GraphQueries.SetAt(glue.Output, BinaryConvSchema.ActivationRestOutput, x);
            foreach (var stale in model.Graph.Initializer.Where(i => taus.Contains(i.Name) && (i.Name.EndsWith(IhTauSuffix, StringComparison.Ordinal) || i.Name.EndsWith(HhTauSuffix, StringComparison.Ordinal))).ToList())
                model.Graph.Initializer.Remove(stale);
        }
    }
}
