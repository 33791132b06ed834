using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// A pass of <see cref="GlueFusion"/>, in binary models: a standard <c>GlobalAveragePool</c> whose input one of our ops
/// writes (BiVM's LR-ASPP pool over the backbone's last <c>ShortcutSum</c>, RVM-ReActNet's over its last glue) becomes
/// <c>ai.bivm:ChannelMean</c> under the same name, input and output. ONNX Runtime runs such a pool with MLAS's NCHW
/// kernel (it pools in its blocked NCHWc layout only where its layout pass sees the channel count, which it does not
/// behind a custom op: checked at its highest level, tests/CustomOps.Tests/Pooling/ChannelMeanTests.cs), one plane's
/// chain of additions after the other; the op sums in the same order, eight planes side by side: the same bits
/// (docs/model-contract.md, "ChannelMean"). Pools fed by standard ops stay (their order depends on that layout pass).
/// <see cref="Unfused"/> is the inverse.
/// </summary>
public static class ChannelMeanFusion
{
    /// <summary>Rewrites the matching pools of <paramref name="nodes"/> in place; returns how many.</summary>
    internal static int Apply(List<NodeProto> nodes)
    {
        var (_, producers) = GraphQueries.ReadersAndProducers(nodes);
        int count = 0;
        foreach (var node in nodes)
        {
            if (node is not { OpType: "GlobalAveragePool", Domain: "" } || node.Input.Count != 1 || node.Output.Count != 1) continue;
            if (!producers.TryGetValue(node.Input[0], out var producer) || producer.Domain != BinaryConvSchema.Domain) continue;
            node.OpType = BinaryConvSchema.ChannelMean;
            node.Domain = BinaryConvSchema.Domain;
            node.Attribute.Clear();
            count++;
        }
        return count;
    }

    /// <summary>Whether <paramref name="node"/> is the fused op.</summary>
    public static bool IsFused(NodeProto node) => node.OpType == BinaryConvSchema.ChannelMean && node.Domain == BinaryConvSchema.Domain;

    /// <summary>The standard GlobalAveragePool that <paramref name="node"/> (a ChannelMean) stands for.</summary>
    internal static NodeProto Unfused(NodeProto node)
    {
        var pool = new NodeProto { Name = node.Name, OpType = "GlobalAveragePool" };
        pool.Input.Add(node.Input[0]);
        pool.Output.Add(node.Output[0]);
        return pool;
    }

    /// <summary>How many ChannelMean nodes <paramref name="model"/>'s main graph holds.</summary>
    public static int Count(ModelProto model) => model.Graph.Node.Count(IsFused);
}
