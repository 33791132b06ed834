using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// The pass of <see cref="GlueFusion"/> that moves a 1×1 <c>Conv</c> into the <c>ShortcutRPReLU</c> it reads (the
/// matting head's project_mat after the decoder's last glue): the node gets the Conv's W and B as Projection and
/// ProjectionBias and the Conv's output as its output Projected, and the Conv goes. The op projects each row of its
/// result while the row is in cache, so the Conv's read of the whole tensor and ONNX Runtime's reorders into and out
/// of its blocked layout around it go (docs/model-contract.md). The glue's own result stays an output: the DGF's
/// refiner reads it too.
/// </summary>
/// <remarks>
/// <para>The fused op sums as ONNX Runtime's MLAS does for 16 to 64 input channels (one fused multiply-add per channel
/// from 0, ascending, then the bias), so on x86-64 with FMA the values are the Conv's bits (checked against ORT 1.31.1);
/// the contract, like the DGF tail's, promises 1e-5.</para>
/// <para>Moved only where the Conv is 1×1 with stride, dilation and group 1 and no padding, its W (float32
/// [K, C, 1, 1]) and B ([K], or none) are initializers, and the glue has no projection yet (one per glue; other
/// readers of the glue's result are allowed).</para>
/// </remarks>
public static class ProjectionFusion
{
    /// <summary>How many ShortcutRPReLU nodes of <paramref name="model"/> (main graph and If branches) carry a projection.</summary>
    public static int Count(ModelProto model) =>
        GraphQueries.WithSubgraphs(model.Graph).SelectMany(g => g.Node)
            .Count(n => n.OpType == BinaryConvSchema.ShortcutRPReLU && n.Domain == BinaryConvSchema.Domain
                && n.Input.Count > BinaryConvSchema.ActivationProjection && n.Input[BinaryConvSchema.ActivationProjection].Length > 0);

    /// <summary>Moves every eligible Conv in <paramref name="nodes"/> into its glue (rewritten in place); returns how many.</summary>
    internal static int Apply(List<NodeProto> nodes, IReadOnlyDictionary<string, TensorProto> initializers)
    {
        var producers = new Dictionary<string, NodeProto>();
        foreach (var node in nodes)
            foreach (var o in node.Output) producers[o] = node;

        var moved = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        foreach (var conv in nodes.Where(n => n is { OpType: "Conv", Domain: "" }))
        {
            if (conv.Input.Count < 2 || conv.Output.Count != 1 || !IsPlainPointwise(conv)) continue;
            if (!producers.TryGetValue(conv.Input[0], out var glue)) continue;
            if (glue is not { OpType: BinaryConvSchema.ShortcutRPReLU, Domain: BinaryConvSchema.Domain } || glue.Output[BinaryConvSchema.ActivationOutput] != conv.Input[0]) continue;
            string Input(int i) => glue.Input.Count > i ? glue.Input[i] : "";
            if (Input(BinaryConvSchema.ActivationProjection).Length > 0 || glue.Output.Count > BinaryConvSchema.ActivationProjectedOutput) continue;
            if (!initializers.TryGetValue(Input(BinaryConvSchema.ActivationShiftIn), out var shiftIn)) continue;
            long channels = GlueFusion.Channels(shiftIn);
            if (!initializers.TryGetValue(conv.Input[1], out var w) || w.DataType != (int)TensorProto.Types.DataType.Float
                || w.Dims.Count != 4 || w.Dims[0] <= 0 || w.Dims[1] != channels || w.Dims[2] != 1 || w.Dims[3] != 1) continue;
            string bias = conv.Input.Count > 2 ? conv.Input[2] : "";
            if (bias.Length > 0 && (!initializers.TryGetValue(bias, out var b) || b.DataType != (int)TensorProto.Types.DataType.Float
                || b.Dims.Count != 1 || b.Dims[0] != w.Dims[0])) continue;
            while (glue.Input.Count <= (bias.Length > 0 ? BinaryConvSchema.ActivationProjectionBias : BinaryConvSchema.ActivationProjection)) glue.Input.Add("");
            glue.Input[BinaryConvSchema.ActivationProjection] = conv.Input[1];
            if (bias.Length > 0) glue.Input[BinaryConvSchema.ActivationProjectionBias] = bias;
            while (glue.Output.Count < BinaryConvSchema.ActivationProjectedOutput) glue.Output.Add(""); // no YPacked
            glue.Output.Add(conv.Output[0]);
            moved.Add(conv);
        }
        // The glue comes before the Conv, and every reader of the Conv's output after it: removing keeps the order.
        nodes.RemoveAll(moved.Contains);
        return moved.Count;
    }

    /// <summary>The Conv written back after a glue node that carries a projection (<see cref="GlueFusion.Unfuse"/>): it reads the glue's Y and writes Projected.</summary>
    internal static void Unfold(List<NodeProto> nodes, NodeProto glue, string name)
    {
        var conv = new NodeProto { OpType = "Conv", Name = name + ".projection" };
        conv.Input.AddRange([glue.Output[BinaryConvSchema.ActivationOutput], glue.Input[BinaryConvSchema.ActivationProjection]]);
        if (glue.Input.Count > BinaryConvSchema.ActivationProjectionBias && glue.Input[BinaryConvSchema.ActivationProjectionBias].Length > 0)
            conv.Input.Add(glue.Input[BinaryConvSchema.ActivationProjectionBias]);
        conv.Output.Add(glue.Output[BinaryConvSchema.ActivationProjectedOutput]);
        conv.Attribute.Add(new AttributeProto { Name = "kernel_shape", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 1L, 1L } });
        nodes.Add(conv);
    }

    /// <summary>
    /// Whether a Conv's (or a BinaryConv2d's: the same attributes) attributes make it 1×1, stride 1, dilation 1, no
    /// padding, one group (absent = ONNX's defaults).
    /// </summary>
    internal static bool IsPlainPointwise(NodeProto conv)
    {
        foreach (var a in conv.Attribute)
        {
            bool ok = a.Name switch
            {
                "kernel_shape" => a.Ints.Count == 2 && a.Ints.All(v => v == 1),
                "strides" or "dilations" => a.Ints.All(v => v == 1),
                "pads" => a.Ints.All(v => v == 0),
                "group" => a.I == 1,
                "auto_pad" => a.S.ToStringUtf8() is "NOTSET" or "VALID",
                _ => false,
            };
            if (!ok) return false;
        }
        return true;
    }
}
