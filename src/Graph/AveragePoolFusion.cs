using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// A pass of <see cref="GlueFusion"/>, in binary models: a standard <c>AveragePool</c> with a 2×2 window and stride 2
/// (no pads, no dilation; ceil_mode 0, or 1 with count_include_pad 0, as RVM's source pyramid is exported) over planes
/// whose channel count is known and not a multiple of 4 (traced through Resize and pools to a graph input: the source
/// pyramid's three colour planes) becomes <c>ai.bivm:AveragePool2x</c> under the same name, input and output. ONNX
/// Runtime pools those with MLAS's NCHW kernels (0.41 ms of a 512×288 frame for the first, 0.20 as the op); the op
/// follows their order, so the same bits (docs/model-contract.md, "AveragePool2x"). The backbone's pools stay: ONNX
/// Runtime runs them in its blocked NCHWc layout, whose sums come out in another order. <see cref="Unfused"/> is the inverse.
/// </summary>
public static class AveragePoolFusion
{
    /// <summary>Rewrites the matching pools of <paramref name="nodes"/> in place; returns how many.</summary>
    internal static int Apply(List<NodeProto> nodes, GraphProto graph)
    {
        var (_, producers) = GraphQueries.ReadersAndProducers(nodes);
        // Channels of a tensor traced through channel-keeping ops to a graph input with a fixed channel count; null if unknown.
        long? Channels(string tensor)
        {
            for (int depth = 0; depth < 64; depth++)
            {
                if (graph.Input.FirstOrDefault(i => i.Name == tensor) is { } input)
                    return input.Type?.TensorType?.Shape?.Dim is { Count: 4 } dims && dims[1].DimValue > 0 ? dims[1].DimValue : null;
                if (!producers.TryGetValue(tensor, out var producer) || producer.Input.Count == 0) return null;
                if (producer.OpType is not ("Resize" or "AveragePool" or "Identity" or BinaryConvSchema.AveragePool2x)) return null;
                tensor = producer.Input[0];
            }
            return null;
        }
        int count = 0;
        foreach (var node in nodes)
        {
            if (node is not { OpType: "AveragePool", Domain: "" } || node.Input.Count != 1 || node.Output.Count != 1) continue;
            if (Matching(node) is not { } ceilMode) continue;
            // Only planes ONNX Runtime pools in NCHW (MLAS's kernels, whose order the op follows): its NCHWc layout,
            // which it takes for channel counts in multiples of its block, sums in another order (1 ulp apart).
            if (Channels(node.Input[0]) is not { } channels || channels % 4 == 0) continue;
            node.OpType = BinaryConvSchema.AveragePool2x;
            node.Domain = BinaryConvSchema.Domain;
            node.Attribute.Clear();
            if (ceilMode) node.Attribute.Add(new AttributeProto { Name = BinaryConvSchema.PoolCeilMode, Type = AttributeProto.Types.AttributeType.Int, I = 1 });
            count++;
        }
        return count;
    }

    /// <summary>Whether <paramref name="node"/> (an AveragePool) is the op's pool: null if not, else its ceil_mode.</summary>
    internal static bool? Matching(NodeProto node)
    {
        AttributeProto? Get(string name) => node.Attribute.FirstOrDefault(a => a.Name == name);
        bool Ints(string name, long value, bool absentMatches) => Get(name) is { } a ? a.Ints.Count > 0 && a.Ints.All(v => v == value) : absentMatches;
        if (!Ints("kernel_shape", 2, false) || Get("kernel_shape")!.Ints.Count != 2) return null;
        if (!Ints("strides", 2, false) || Get("strides")!.Ints.Count != 2) return null;
        if (!Ints("pads", 0, true) || !Ints("dilations", 1, true)) return null;
        if (Get("auto_pad") is { } autoPad && autoPad.S.ToStringUtf8() is not ("" or "NOTSET")) return null;
        bool ceil = (Get("ceil_mode")?.I ?? 0) == 1;
        bool includePad = (Get("count_include_pad")?.I ?? 0) == 1;
        if (ceil && includePad) return null; // the cut windows would count their padding
        return ceil;
    }

    /// <summary>Whether <paramref name="node"/> is the fused op.</summary>
    public static bool IsFused(NodeProto node) => node.OpType == BinaryConvSchema.AveragePool2x && node.Domain == BinaryConvSchema.Domain;

    /// <summary>The standard AveragePool that <paramref name="node"/> (an AveragePool2x) stands for.</summary>
    internal static NodeProto Unfused(NodeProto node) =>
        Standard(node.Name, node.Input[0], node.Output[0], node.Attribute.FirstOrDefault(a => a.Name == BinaryConvSchema.PoolCeilMode)?.I == 1);

    /// <summary>An ONNX AveragePool 2×2, stride 2, no pads, count_include_pad 0 (what the op and the stem's Pooled compute).</summary>
    internal static NodeProto Standard(string name, string input, string output, bool ceil)
    {
        var pool = new NodeProto { Name = name, OpType = "AveragePool" };
        pool.Input.Add(input);
        pool.Output.Add(output);
        pool.Attribute.Add(new AttributeProto { Name = "kernel_shape", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 2, 2 } });
        pool.Attribute.Add(new AttributeProto { Name = "strides", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 2, 2 } });
        pool.Attribute.Add(new AttributeProto { Name = "ceil_mode", Type = AttributeProto.Types.AttributeType.Int, I = ceil ? 1 : 0 });
        pool.Attribute.Add(new AttributeProto { Name = "count_include_pad", Type = AttributeProto.Types.AttributeType.Int, I = 0 });
        return pool;
    }

    /// <summary>How many AveragePool2x nodes <paramref name="model"/>'s main graph holds.</summary>
    public static int Count(ModelProto model) => model.Graph.Node.Count(IsFused);
}
