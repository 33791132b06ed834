using BiVM.Contracts;
using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.Recurrent;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// ConvGru: the decoder's whole ConvGRU step (<see cref="ConvGruCell"/>), its two convs' constants read once when the
/// session is created; one band of rows per intra-op thread and image.
/// </summary>
internal sealed unsafe class ConvGruOrtKernel : IBiVMKernel
{
    private readonly ConvGruCell _cell;
    /// <summary>Whether X comes packed (XPackedIh and XPackedHh), and whether X itself is given (else N, H, W come from XPackedIh).</summary>
    private readonly bool _packed, _hasX;

    private ConvGruOrtKernel(string location, ConvGruCell cell, bool packed, bool hasX)
    {
        Location = location;
        _cell = cell;
        _packed = packed;
        _hasX = hasX;
    }

    public string Location { get; }

    public static ConvGruOrtKernel Create(BiVMOpDefinition op, nint info, out string nodeName)
    {
        nodeName = OrtApi.KernelInfoNodeName(info);
        int inputs = OrtApi.KernelInfoInputCount(info);
        if (inputs < BinaryConvSchema.ConvGruHhTau + 1)
            throw new OpValidationException($"needs inputs X, State, IhW, IhAlpha, IhTau, IhBias (may be empty), HhW, HhAlpha, HhTau[, HhBias]; got {inputs}");
        bool Present(int index) => inputs > index && OrtApi.KernelInfoInputName(info, index).Length > 0;
        var hhAlpha = Vector(info, BinaryConvSchema.ConvGruHhAlpha, "HhAlpha", null);
        int channels = hhAlpha.Length;
        var ihW = OrtTensorView.Constant(info, BinaryConvSchema.ConvGruIhW, "IhW");
        var hhW = OrtTensorView.Constant(info, BinaryConvSchema.ConvGruHhW, "HhW");
        if (ihW.Type != OrtElementType.UInt64 || ihW.Dims.Length != 4 || ihW.Dims[1] != ihW.Dims[2] || ihW.Dims[1] % 2 == 0)
            throw new OpValidationException($"IhW must be the packed uint64 [2C, k, k, words] of an odd square kernel, got {OrtTensorView.TypeText(ihW.Type)} {ihW.Shape}");
        long k = ihW.Dims[1], words = PackedLayout.WordsFor(2 * channels);
        long[] ihShape = [2L * channels, k, k, words], hhShape = [channels, k, k, words];
        if (!ihW.Dims.SequenceEqual(ihShape))
            throw new OpValidationException($"IhW must be [2C, k, k, words] = {OrtTensorView.ShapeText(ihShape)} for HhAlpha's C = {channels}, got {ihW.Shape}");
        if (hhW.Type != OrtElementType.UInt64 || !hhW.Dims.SequenceEqual(hhShape))
            throw new OpValidationException($"HhW must be the packed uint64 {OrtTensorView.ShapeText(hhShape)} (C outputs, IhW's kernel, 2C inputs), got {OrtTensorView.TypeText(hhW.Type)} {hhW.Shape}");
        var ihAlpha = Vector(info, BinaryConvSchema.ConvGruIhAlpha, "IhAlpha", 2 * channels);
        var ihTau = Vector(info, BinaryConvSchema.ConvGruIhTau, "IhTau", 2 * channels);
        var hhTau = Vector(info, BinaryConvSchema.ConvGruHhTau, "HhTau", 2 * channels);
        var ihBias = Present(BinaryConvSchema.ConvGruIhBias) ? Vector(info, BinaryConvSchema.ConvGruIhBias, "IhBias", 2 * channels) : default;
        var hhBias = Present(BinaryConvSchema.ConvGruHhBias) ? Vector(info, BinaryConvSchema.ConvGruHhBias, "HhBias", channels) : default;
        bool packedIh = Present(BinaryConvSchema.ConvGruXPackedIh), packedHh = Present(BinaryConvSchema.ConvGruXPackedHh), hasX = Present(BinaryConvSchema.GruX);
        if (packedIh != packedHh) throw new OpValidationException("XPackedIh and XPackedHh go together: give both or neither");
        if (!hasX && !packedIh) throw new OpValidationException("X is the empty name and there is no XPackedIh to take the shape from");
        var cell = new ConvGruCell(ihW.Span<ulong>(), ihAlpha, ihTau, ihBias, hhW.Span<ulong>(), hhAlpha, hhTau, hhBias, (int)k, op.ForceKernel);
        return new ConvGruOrtKernel(BinaryConvOrtKernel.Where(op, nodeName), cell, packedIh, hasX);
    }

    /// <summary>A constant float32 vector of <paramref name="length"/> values (any length ≥ 1 where null).</summary>
    private static ReadOnlySpan<float> Vector(nint info, int index, string name, int? length)
    {
        var t = OrtTensorView.Constant(info, index, name);
        if (t.Type != OrtElementType.Float || t.Dims.Length != 1 || t.Dims[0] < 1 || length is { } l && t.Dims[0] != l)
            throw new OpValidationException($"{name} must be float32 [{(length is { } n ? n.ToString() : "C")}], got {OrtTensorView.TypeText(t.Type)} {t.Shape}");
        return t.Span<float>();
    }

    public void Compute(nint context)
    {
        int channels = _cell.Channels;
        long[] dims;
        string like;
        float* xData = null;
        if (_hasX)
        {
            var x = GruTensors.Rank4(context, BinaryConvSchema.GruX, "X");
            if (x.Dims[1] != channels)
                throw new OpValidationException($"channel mismatch: X {x.Shape} has {x.Dims[1]} channels but the convs were made for C = {channels}");
            (dims, like) = (x.Dims, "X");
            xData = (float*)x.Data;
        }
        else
        {
            // N, H and W from XPackedIh [N, H, W, words] (checked below with XPackedHh), C from the convs.
            var xp = OrtTensorView.Read(OrtApi.KernelContextInput(context, BinaryConvSchema.ConvGruXPackedIh));
            if (xp.Type != OrtElementType.UInt64 || xp.Dims.Length != 4 || xp.Dims.Any(d => d > int.MaxValue) || xp.Dims[1] * xp.Dims[2] > int.MaxValue)
                throw new OpValidationException($"XPackedIh must be uint64 [N, H, W, words], got {OrtTensorView.TypeText(xp.Type)} {xp.Shape}");
            (dims, like) = ([xp.Dims[0], channels, xp.Dims[1], xp.Dims[2]], "XPackedIh's [N, C, H, W]");
        }
        var (h, strides) = GruTensors.State(context, BinaryConvSchema.ConvGruState, dims, like);
        int batch = (int)dims[0], height = (int)dims[2], width = (int)dims[3];
        ulong* packedIh = _packed ? Packed(BinaryConvSchema.ConvGruXPackedIh, "XPackedIh") : null;
        ulong* packedHh = _packed ? Packed(BinaryConvSchema.ConvGruXPackedHh, "XPackedHh") : null;
        var y = (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, 0, dims));
        if ((long)batch * height * width == 0) return;
        _cell.Run(xData, (float*)h.Data, strides, batch, height, width, y, Math.Max(1, OrtParallelRunner.Threads), OrtParallelRunner.For(context), packedIh, packedHh);

        ulong* Packed(int index, string name)
        {
            var t = OrtTensorView.Read(OrtApi.KernelContextInput(context, index));
            long[] expected = [batch, height, width, PackedLayout.WordsFor(channels)];
            if (t.Type != OrtElementType.UInt64 || !t.Dims.SequenceEqual(expected))
                throw new OpValidationException($"{name} must be uint64 [N, H, W, words(C)] = {OrtTensorView.ShapeText(expected)} for {like} {OrtTensorView.ShapeText(dims)}, got {OrtTensorView.TypeText(t.Type)} {t.Shape}");
            return (ulong*)t.Data;
        }
    }

    public void Dispose() => _cell.Dispose();
}
