using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// A pass of <see cref="GlueFusion"/>, in binary models: a standard <c>AveragePool</c> with a 2×2 window and stride 2
/// (no pads, no dilation; ceil_mode 0, or 1 with count_include_pad 0, as RVM's source pyramid is exported) over planes
/// whose channel count is known (traced through Resize, pools, shortcut sums, Mul, channel Split and Concat and the
/// ConvGRU's state to a graph input, a glue's per-channel parameters or a ConvGRU's weights) becomes
/// <c>ai.bivm:AveragePool2x</c> under the same name, input and output, in the order ONNX Runtime would sum it
/// (<see cref="RowOrder"/>): the source pyramid's three colour planes in MLAS's NCHW kernels' order (0.41 ms of a
/// 512×288 frame for the first, 0.20 as the op), the backbone's 32- and 64-channel pools and decode4's 128-channel pool
/// of the mask's features row by row as its NCHWc kernels do (which it ran between a reorder into its blocked layout
/// and one back). The same bits
/// (docs/model-contract.md, "AveragePool2x"). <see cref="Unfused"/> is the inverse.
/// </summary>
public static class AveragePoolFusion
{
    /// <summary>Rewrites the matching pools of <paramref name="nodes"/> in place; returns how many.</summary>
    internal static int Apply(List<NodeProto> nodes, GraphProto graph)
    {
        var (_, producers) = GraphQueries.ReadersAndProducers(nodes);
        var initializers = graph.Initializer.ToDictionary(t => t.Name);
        // Channels of a tensor traced through channel-keeping ops to a graph input with a fixed channel count, or to an
        // op whose parameters give it, and through the decoder's Split, ConvGRU and Concat (decode4's pool of the mask's
        // features); null if unknown.
        long? Channels(string tensor, int depth = 0)
        {
            for (; depth < 64; depth++)
            {
                if (graph.Input.FirstOrDefault(i => i.Name == tensor) is { } input)
                    return input.Type?.TensorType?.Shape?.Dim is { Count: 4 } dims && dims[1].DimValue > 0 ? dims[1].DimValue : null;
                if (!producers.TryGetValue(tensor, out var producer) || producer.Input.Count == 0) return null;
                // A glue's Y written whole (not split): its per-channel slope has its channel count.
                if (producer.OpType == BinaryConvSchema.ShortcutRPReLU && producer.Domain == BinaryConvSchema.Domain)
                    return producer.Output[0] == tensor && GraphQueries.Int(producer, BinaryConvSchema.ActivationYSplit) is null
                        && initializers.TryGetValue(producer.Input[BinaryConvSchema.ActivationSlope], out var slope) && GlueFusion.Channels(slope) is > 0 and var c ? c : null;
                // The stem's XPooled: its input's channels.
                if (StemFusion.IsFused(producer))
                {
                    if (producer.Output.Count <= BinaryConvSchema.StemXPooled || producer.Output[BinaryConvSchema.StemXPooled] != tensor) return null;
                    tensor = producer.Input[BinaryConvSchema.StemX];
                    continue;
                }
                // A ConvGRU's new state: its hh conv's output channels (W packed [Cout, kH, kW, words]).
                if (producer.OpType == BinaryConvSchema.ConvGru && producer.Domain == BinaryConvSchema.Domain)
                    return producer.Output[0] == tensor && producer.Input.Count > BinaryConvSchema.ConvGruHhW
                        && initializers.TryGetValue(producer.Input[BinaryConvSchema.ConvGruHhW], out var hh) && hh.Dims.Count == 4 && hh.Dims[0] > 0 ? hh.Dims[0] : null;
                if (producer.OpType is "Concat" or "Split" && (GraphQueries.Int(producer, "axis") ?? 0) != 1) return null;
                // A channel Concat: the sum of its inputs' channels.
                if (producer.OpType == "Concat")
                {
                    long sum = 0;
                    foreach (var part in producer.Input)
                        if (Channels(part, depth + 1) is { } partChannels) sum += partChannels;
                        else return null;
                    return sum;
                }
                // A channel Split: output k's size, from its sizes (the attribute before opset 13, an initializer from it)
                // or an even split.
                if (producer.OpType == "Split")
                {
                    int k = producer.Output.IndexOf(tensor);
                    if (producer.Attribute.FirstOrDefault(a => a.Name == "split") is { } split)
                        return k < split.Ints.Count && split.Ints[k] > 0 ? split.Ints[k] : null;
                    if (producer.Input.Count > 1 && producer.Input[1].Length > 0)
                        return initializers.TryGetValue(producer.Input[1], out var sizes) && Tensors.Int64Values(sizes) is { } values && k < values.Length && values[k] > 0 ? values[k] : null;
                    return Channels(producer.Input[0], depth + 1) is { } whole && whole % producer.Output.Count == 0 ? whole / producer.Output.Count : null;
                }
                // A Mul (the LR-ASPP's gate): its first input's channels where they are more than one (broadcasting then
                // leaves the second input 1 or as many).
                if (producer.OpType == "Mul")
                    return Channels(producer.Input[0], depth + 1) is > 1 and var factorOf ? factorOf : null;
                if (producer.OpType is not ("Resize" or "AveragePool" or "Identity" or BinaryConvSchema.AveragePool2x or BinaryConvSchema.ShortcutSum)) return null;
                tensor = producer.Input[0];
            }
            return null;
        }
        int count = 0;
        foreach (var node in nodes)
        {
            if (node is not { OpType: "AveragePool", Domain: "" } || node.Input.Count != 1 || node.Output.Count != 1) continue;
            if (Matching(node) is not { } ceilMode) continue;
            if (Channels(node.Input[0]) is not { } channels || RowOrder(channels) is not { } rowOrder) continue;
            node.OpType = BinaryConvSchema.AveragePool2x;
            node.Domain = BinaryConvSchema.Domain;
            node.Attribute.Clear();
            if (ceilMode) node.Attribute.Add(new AttributeProto { Name = BinaryConvSchema.PoolCeilMode, Type = AttributeProto.Types.AttributeType.Int, I = 1 });
            node.Attribute.AddRange(RowOrderAttribute(rowOrder));
            count++;
        }
        return count;
    }

    /// <summary>
    /// The summation order in which ONNX Runtime pools <paramref name="channels"/> planes on every x86-64 host: row by
    /// row (true) where the count is a multiple of 16, so that both its AVX-512 block (16) and its AVX2 block (8) divide
    /// it and it pools in NCHWc; its NCHW kernels' order (false) where the count is no multiple of 4; null where it
    /// depends on the host (multiples of 4 or 8 but not of 16), and such a pool is left standard.
    /// </summary>
    public static bool? RowOrder(long channels) => channels % 16 == 0 ? true : channels % 4 != 0 ? false : null;

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

    /// <summary>The row_order attribute for <paramref name="rowOrder"/> (an op's pool in ONNX Runtime's NCHWc order), or none; <paramref name="name"/>: the stem's input_row_order instead.</summary>
    internal static IEnumerable<AttributeProto> RowOrderAttribute(bool rowOrder, string name = BinaryConvSchema.PoolRowOrder) =>
        rowOrder ? [new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = 1 }] : [];

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
