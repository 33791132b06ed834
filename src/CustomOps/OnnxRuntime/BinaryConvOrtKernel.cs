using BiVM.Contracts;
using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.SparseBinaryConv2d;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// The per-node kernel ORT creates once per session: the constant inputs (packed W, alpha, tau, bias) are read and
/// prepared here, at creation, never per call. Compute validates the dynamic inputs and runs the prepared layer.
/// Immutable after creation, so concurrent Compute calls from several Run threads are safe.
/// </summary>
internal sealed unsafe class BinaryConvOrtKernel : IBiVMKernel
{
    private readonly BiVMOpDefinition _op;
    private readonly BinaryConvolution _conv;
    private readonly SparseBinaryConvolution? _sparse;

    private readonly bool _packedInput;
    /// <summary>Whether X is given; without it (a dense conv with XPacked) N, H and W come from XPacked.</summary>
    private bool _hasX = true;

    private BinaryConvOrtKernel(BiVMOpDefinition op, string nodeName, BinaryConvolution conv, int maskScale, bool packedInput)
    {
        _op = op;
        NodeName = nodeName;
        _conv = conv;
        _packedInput = packedInput;
        if (op.IsSparse) _sparse = new SparseBinaryConvolution(conv, maskScale);
    }

    public string NodeName { get; }

    /// <summary>"BinaryConv2d node 'name'": the prefix of every error message.</summary>
    public static string Where(BiVMOpDefinition op, string node) => $"{op.Name} node '{node}'";

    public static BinaryConvOrtKernel Create(BiVMOpDefinition op, nint info, out string nodeName)
    {
        nodeName = OrtApi.KernelInfoNodeName(info);
        int inputs = OrtApi.KernelInfoInputCount(info);
        if (inputs < 4) throw new OpValidationException($"needs inputs X, W, alpha, tau{(op.IsSparse ? ", bias (may be empty), Mask" : ", [bias]")}; got {inputs}");
        if (op.IsSparse && inputs < 6) throw new OpValidationException($"needs 6 inputs X, W, alpha, tau, bias (may be the empty name), Mask; got {inputs}");

        var w = OrtTensorView.Constant(info, BinaryConvSchema.InputW, "W");
        if (w.Type != OrtElementType.UInt64 || w.Dims.Length != 4)
            throw new OpValidationException($"W must be the packed uint64 tensor [Cout, kH, kW, words], got {OrtTensorView.TypeText(w.Type)} {w.Shape}");
        int cout = (int)w.Dims[0], kh = (int)w.Dims[1], kw = (int)w.Dims[2], words = (int)w.Dims[3];
        var alpha = OrtTensorView.Constant(info, BinaryConvSchema.InputAlpha, "alpha");
        CheckVector(alpha, "alpha", cout, "Cout (W dimension 0)");
        var tau = OrtTensorView.Constant(info, BinaryConvSchema.InputTau, "tau");
        if (tau.Type != OrtElementType.Float || tau.Dims.Length != 1 || tau.Dims[0] <= 0)
            throw new OpValidationException($"tau must be float32 [Cin], got {OrtTensorView.TypeText(tau.Type)} {tau.Shape}");
        int cin = (int)tau.Dims[0];
        if (PackedLayout.WordsFor(cin) != words)
            throw new OpValidationException($"channel mismatch: tau has Cin = {cin} values, which pack into {PackedLayout.WordsFor(cin)} words, but W {w.Shape} has {words} words per tap");
        ReadOnlySpan<float> bias = default;
        if (inputs > BinaryConvSchema.InputBias && OrtApi.KernelInfoInputName(info, BinaryConvSchema.InputBias).Length > 0)
        {
            var b = OrtTensorView.Constant(info, BinaryConvSchema.InputBias, "bias");
            CheckVector(b, "bias", cout, "Cout (W dimension 0)");
            bias = b.Span<float>();
        }
        bool Present(int index) => inputs > index && OrtApi.KernelInfoInputName(info, index).Length > 0;
        if (!op.IsSparse && Present(BinaryConvSchema.InputMask))
            throw new OpValidationException($"has a Mask input; a masked conv is {BinaryConvSchema.SparseBinaryConv2d} (leave input {BinaryConvSchema.InputMask} empty)");
        var attributes = ConvAttributes.FromKernelInfo(info);
        var layer = attributes.ToLayer(cin, cout, kh, kw, op.IsSparse);
        var conv = new BinaryConvolution(layer, w.Span<ulong>(), alpha.Span<float>(), tau.Span<float>(), bias, op.ForceKernel);
        bool hasX = Present(BinaryConvSchema.InputX), packedInput = Present(BinaryConvSchema.InputXPacked);
        if (!hasX && (op.IsSparse || !packedInput))
        {
            conv.Dispose();
            throw new OpValidationException(op.IsSparse ? "X is the empty name: a sparse conv needs X" : "X is the empty name and there is no XPacked to take the shape from");
        }
        return new BinaryConvOrtKernel(op, nodeName, conv, (int)(attributes.MaskScale ?? 1), packedInput) { _hasX = hasX };
    }

    private static void CheckVector(OrtTensorView t, string name, int length, string what)
    {
        if (t.Type != OrtElementType.Float || t.Dims.Length != 1 || t.Dims[0] != length)
            throw new OpValidationException($"{name} must be float32 [{length}] to match {what}, got {OrtTensorView.TypeText(t.Type)} {t.Shape}");
    }

    public void Compute(nint context)
    {
        var layer = _conv.Layer;
        long[] xDims;
        string xText;
        float* xData = null;
        if (_hasX)
        {
            var x = OrtTensorView.Read(OrtApi.KernelContextInput(context, BinaryConvSchema.InputX));
            if (x.Type != OrtElementType.Float) throw new OpValidationException($"X must be float32, got {OrtTensorView.TypeText(x.Type)}");
            if (x.Dims.Length != 4) throw new OpValidationException($"X must have rank 4 [N, C, H, W], got rank {x.Dims.Length} {x.Shape}");
            if (x.Dims[1] != layer.InChannels)
                throw new OpValidationException($"channel mismatch: X {x.Shape} has {x.Dims[1]} channels but tau and W were made for Cin = {layer.InChannels}");
            (xDims, xText) = (x.Dims, $"X {x.Shape}");
            xData = (float*)x.Data;
        }
        else
        {
            // N, H and W from XPacked [N, H, W, words] (checked against them below), Cin from tau.
            var xp = OrtTensorView.Read(OrtApi.KernelContextInput(context, BinaryConvSchema.InputXPacked));
            if (xp.Type != OrtElementType.UInt64 || xp.Dims.Length != 4)
                throw new OpValidationException($"XPacked must be uint64 [N, H, W, words], got {OrtTensorView.TypeText(xp.Type)} {xp.Shape}");
            (xDims, xText) = ([xp.Dims[0], layer.InChannels, xp.Dims[1], xp.Dims[2]], $"XPacked {xp.Shape}");
        }
        if (xDims.Any(d => d > int.MaxValue)) throw new OpValidationException($"{xText} is too large");
        var p = layer.WithInput((int)xDims[0], (int)xDims[2], (int)xDims[3]);
        if (p.ValidateInput() is { } bad) throw new OpValidationException(bad);
        long[] outDims = [p.Batch, p.OutChannels, p.OutHeight, p.OutWidth];

        byte* mask = null;
        if (_sparse is not null)
        {
            nint maskValue = OrtApi.KernelContextInput(context, BinaryConvSchema.InputMask);
            if (maskValue == 0) throw new OpValidationException("input Mask is missing");
            var m = OrtTensorView.Read(maskValue);
            if (m.Type is not (OrtElementType.UInt8 or OrtElementType.Bool))
                throw new OpValidationException($"Mask must be uint8 or bool, got {OrtTensorView.TypeText(m.Type)}");
            var (mh, mw) = MaskGeometry.MaskSize(p.OutHeight, p.OutWidth, _sparse.MaskScale);
            long[] expected = [p.Batch, 1, mh, mw];
            if (!m.Dims.SequenceEqual(expected))
                throw new OpValidationException($"Mask must have shape [N, 1, ceil(H_out/k), ceil(W_out/k)] = {OrtTensorView.ShapeText(expected)} for output {OrtTensorView.ShapeText(outDims)} and mask_scale {_sparse.MaskScale}, got {m.Shape}");
            mask = (byte*)m.Data;
        }

        ulong* packed = null;
        if (_packedInput)
        {
            var xp = OrtTensorView.Read(OrtApi.KernelContextInput(context, BinaryConvSchema.InputXPacked));
            long[] expected = [p.Batch, p.InHeight, p.InWidth, p.Words];
            if (xp.Type != OrtElementType.UInt64 || !xp.Dims.SequenceEqual(expected))
                throw new OpValidationException($"XPacked must be uint64 [N, H, W, words] = {OrtTensorView.ShapeText(expected)} for {xText}, got {OrtTensorView.TypeText(xp.Type)} {xp.Shape}");
            packed = (ulong*)xp.Data;
        }

        var y = (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, 0, outDims));
        InPlace.Note(xData, y);
        var runner = OrtParallelRunner.For(context);
        if (_sparse is null) _conv.Run(xData, p.Batch, p.InHeight, p.InWidth, y, runner, packed);
        else _sparse.Run(xData, p.Batch, p.InHeight, p.InWidth, mask, y, runner, packed);
    }

    /// <summary>Error-message prefix for this node.</summary>
    public string Location => Where(_op, NodeName);

    public void Dispose() => _conv.Dispose();
}
