using BiVM.Contracts;
using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.SparseBinaryConv2d;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// The node attributes with ONNX Conv defaults (strides 1, pads 0, dilations 1, group 1) plus mask_scale, read
/// either from a kernel's OrtKernelInfo or during shape inference, and checked in one place.
/// </summary>
internal sealed record ConvAttributes(long[]? KernelShape, long[] Strides, long[] Pads, long[] Dilations, long Group, long? MaskScale, string? AutoPad)
{
    public static ConvAttributes FromKernelInfo(nint info) => Read(
        name => OrtApi.KernelInfoAttributeInts(info, name), name => OrtApi.KernelInfoAttributeInt(info, name), name => OrtApi.KernelInfoAttributeString(info, name));

    public static ConvAttributes FromShapeInference(nint context) => Read(
        name => OrtApi.ShapeInferAttributeInts(context, name), name => OrtApi.ShapeInferAttributeInt(context, name), name => OrtApi.ShapeInferAttributeString(context, name));

    private static ConvAttributes Read(Func<string, long[]?> ints, Func<string, long?> integer, Func<string, string?> text) => new(
        ints(BinaryConvSchema.KernelShape),
        ints(BinaryConvSchema.Strides) ?? [1, 1],
        ints(BinaryConvSchema.Pads) ?? [0, 0, 0, 0],
        ints(BinaryConvSchema.Dilations) ?? [1, 1],
        integer(BinaryConvSchema.Group) ?? 1,
        integer(BinaryConvSchema.MaskScale),
        text(BinaryConvSchema.AutoPad));

    /// <summary>The layer these attributes describe for weights of kH×kW; throws <see cref="OpValidationException"/>.</summary>
    public BinaryConv2dParams ToLayer(int cin, int cout, int kh, int kw, bool sparse)
    {
        static string List(long[] v) => "[" + string.Join(", ", v) + "]";
        if (KernelShape is { } ks && (ks.Length != 2 || ks[0] != kh || ks[1] != kw))
            throw new OpValidationException($"kernel_shape {List(ks)} does not match W, whose shape [Cout, kH, kW, words] gives [{kh}, {kw}]");
        if (Strides.Length != 2) throw new OpValidationException($"strides must have 2 values, got {List(Strides)}");
        if (Dilations.Length != 2) throw new OpValidationException($"dilations must have 2 values, got {List(Dilations)}");
        if (Pads.Length != 4) throw new OpValidationException($"pads must have 4 values [top, left, bottom, right], got {List(Pads)}");
        if (Group != 1) throw new OpValidationException($"group must be 1, got {Group}");
        if (AutoPad is { Length: > 0 } ap && ap != "NOTSET") throw new OpValidationException($"auto_pad '{ap}' is not supported; give explicit pads");
        if (Strides.Concat(Dilations).Concat(Pads).Any(v => v > 1 << 16))
            throw new OpValidationException("strides, dilations and pads must be below 65536");
        if (sparse)
        {
            if (MaskScale is not { } k) throw new OpValidationException("attribute mask_scale is required");
            if (!MaskGeometry.IsAllowedScale(k))
                throw new OpValidationException($"mask_scale must be one of {string.Join(", ", MaskGeometry.AllowedScales)}, got {k}");
        }
        var layer = new BinaryConv2dParams(1, cin, 1, 1, cout, kh, kw, (int)Strides[0], (int)Strides[1], (int)Dilations[0], (int)Dilations[1],
            (int)Pads[0], (int)Pads[1], (int)Pads[2], (int)Pads[3]);
        if (layer.ValidateAttributes() is { } bad) throw new OpValidationException(bad);
        return layer;
    }
}
