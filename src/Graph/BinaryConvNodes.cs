using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// Writes the ai.bivm binary convolutions (docs/model-contract.md) into a graph, either as the custom node or
/// lowered to standard ONNX ops with identical meaning. The exporter and the kernel tests/benchmarks share it, so
/// "custom vs lowered" parity tests compare against exactly what the exporter writes.
/// </summary>
/// <remarks>
/// Lowering, for a = sign(X − τ) with sign(0) = +1 (ONNX Sign maps 0 to 0, so a comparison is used):
/// <code>
///   d = Sub(X, τ[1,C,1,1]);  a = Where(GreaterOrEqual(d, 0), +1, −1)
///   c = Conv(a, w±1);  Y = Add(Mul(c, α[1,Cout,1,1]), bias[1,Cout,1,1])
///   sparse: m = Slice(Resize(Cast(Mask, float), nearest, floor, asymmetric, scales [1,1,k,k]), to H_out×W_out)
///           Y = Where(Cast(m, bool), Y, 0)
/// </code>
/// Resize with the asymmetric transform and floor rounding reads source index ⌊y / k⌋: exactly the contract's
/// repetition rule. The conv sums ±1 products (exact integers in float32 below 2^24), so the lowered graph is an
/// exact oracle for the integer part.
/// </remarks>
public static class BinaryConvNodes
{
    /// <summary>
    /// A BinaryConv2d (or, with a mask input, SparseBinaryConv2d) node. <paramref name="packedWeights"/> is the
    /// [Cout, kH, kW, words] uint64 tensor from BiVM.CustomOps.BitPacking.WeightPacker.
    /// </summary>
    public static NodeBuilder AddCustom(OnnxGraphBuilder g, string name, string x, string y, ulong[] packedWeights, long[] packedShape,
        float[] alpha, float[] tau, float[]? bias, BinaryConvAttributes attributes, string? mask = null, int maskScale = 1)
    {
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        var w = g.Initializer(Tensors.UInt64($"{name}.W", packedWeights, packedShape));
        var a = g.Initializer(Tensors.Float($"{name}.alpha", alpha, alpha.Length));
        var t = g.Initializer(Tensors.Float($"{name}.tau", tau, tau.Length));
        var b = bias is null ? "" : g.Initializer(Tensors.Float($"{name}.bias", bias, bias.Length));
        bool sparse = mask is not null;
        // In BinaryConvSchema's input order; a trailing absent bias is left out, one before the mask is the empty name.
        var inputs = new string[BinaryConvSchema.InputCount(sparse)];
        inputs[BinaryConvSchema.InputX] = x;
        inputs[BinaryConvSchema.InputW] = w;
        inputs[BinaryConvSchema.InputAlpha] = a;
        inputs[BinaryConvSchema.InputTau] = t;
        inputs[BinaryConvSchema.InputBias] = b;
        if (sparse) inputs[BinaryConvSchema.InputMask] = mask!;
        var node = g.Node(BinaryConvSchema.OpName(sparse), sparse || bias is not null ? inputs : inputs[..BinaryConvSchema.InputBias], [y], name, BinaryConvSchema.Domain)
            .Attribute(BinaryConvSchema.KernelShape, attributes.KernelShape)
            .Attribute(BinaryConvSchema.Strides, attributes.Strides)
            .Attribute(BinaryConvSchema.Pads, attributes.Pads)
            .Attribute(BinaryConvSchema.Dilations, attributes.Dilations)
            .Attribute(BinaryConvSchema.Group, 1L);
        if (sparse) node.Attribute(BinaryConvSchema.MaskScale, (long)maskScale);
        return node;
    }

    /// <summary>
    /// The same layer in standard ops. <paramref name="signWeights"/> are the ±1 weights [Cout, Cin, kH, kW]
    /// (e.g. WeightPacker.Unpack of the packed tensor, so both forms come from one source).
    /// </summary>
    public static void AddLowered(OnnxGraphBuilder g, string name, string x, string y, float[] signWeights, long[] weightShape,
        float[] alpha, float[] tau, float[]? bias, BinaryConvAttributes attributes, string? mask = null, int maskScale = 1)
    {
        string P(string s) => $"{name}.{s}";
        long cout = weightShape[0], cin = weightShape[1];
        g.Initializer(Tensors.Float(P("tau"), tau, 1, cin, 1, 1));
        g.Initializer(Tensors.Float(P("zero"), [0f]));
        g.Initializer(Tensors.Float(P("plus"), [1f]));
        g.Initializer(Tensors.Float(P("minus"), [-1f]));
        g.Initializer(Tensors.Float(P("w"), signWeights, weightShape));
        g.Initializer(Tensors.Float(P("alpha"), alpha, 1, cout, 1, 1));
        g.Node("Sub", [x, P("tau")], [P("d")], P("sub"));
        g.Node("GreaterOrEqual", [P("d"), P("zero")], [P("ge")], P("ge_node"));
        g.Node("Where", [P("ge"), P("plus"), P("minus")], [P("a")], P("sign"));
        g.Node("Conv", [P("a"), P("w")], [P("c")], P("conv"))
            .Attribute("kernel_shape", attributes.KernelShape)
            .Attribute("strides", attributes.Strides)
            .Attribute("pads", attributes.Pads)
            .Attribute("dilations", attributes.Dilations)
            .Attribute("group", 1L);
        string scaled = bias is null && mask is null ? y : P("scaled");
        g.Node("Mul", [P("c"), P("alpha")], [scaled], P("scale"));
        string dense = scaled;
        if (bias is not null)
        {
            g.Initializer(Tensors.Float(P("bias"), bias, 1, cout, 1, 1));
            dense = mask is null ? y : P("dense");
            g.Node("Add", [scaled, P("bias")], [dense], P("add_bias"));
        }
        if (mask is null) return;

        g.Initializer(Tensors.Float(P("mask_scales"), [1f, 1f, maskScale, maskScale], 4));
        g.Initializer(Tensors.Int64(P("hw_start"), [2L], 1));
        g.Initializer(Tensors.Int64(P("hw_end"), [4L], 1));
        g.Initializer(Tensors.Int64(P("zeros2"), [0L, 0L], 2));
        g.Initializer(Tensors.Int64(P("axes_hw"), [2L, 3L], 2));
        g.Node("Cast", [mask], [P("mask_f")], P("mask_to_float")).Attribute("to", (long)TensorProto.Types.DataType.Float);
        g.Node("Resize", [P("mask_f"), "", P("mask_scales")], [P("mask_up")], P("mask_upsample"))
            .Attribute("mode", "nearest")
            .Attribute("coordinate_transformation_mode", "asymmetric")
            .Attribute("nearest_mode", "floor");
        g.Node("Shape", [dense], [P("y_shape")], P("y_shape_node"));
        g.Node("Slice", [P("y_shape"), P("hw_start"), P("hw_end")], [P("y_hw")], P("y_hw_node"));
        g.Node("Slice", [P("mask_up"), P("zeros2"), P("y_hw"), P("axes_hw")], [P("mask_crop")], P("mask_crop_node"));
        g.Node("Cast", [P("mask_crop")], [P("mask_on")], P("mask_to_bool")).Attribute("to", (long)TensorProto.Types.DataType.Bool);
        g.Node("Where", [P("mask_on"), dense, P("zero")], [y], P("apply_mask"));
    }
}
