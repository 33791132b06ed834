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

    private ConvGruOrtKernel(string location, ConvGruCell cell)
    {
        Location = location;
        _cell = cell;
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
        var cell = new ConvGruCell(ihW.Span<ulong>(), ihAlpha, ihTau, ihBias, hhW.Span<ulong>(), hhAlpha, hhTau, hhBias, (int)k, op.ForceKernel);
        return new ConvGruOrtKernel(BinaryConvOrtKernel.Where(op, nodeName), cell);
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
        var x = GruTensors.Rank4(context, BinaryConvSchema.GruX, "X");
        if (x.Dims[1] != _cell.Channels)
            throw new OpValidationException($"channel mismatch: X {x.Shape} has {x.Dims[1]} channels but the convs were made for C = {_cell.Channels}");
        var (h, strides) = GruTensors.State(context, BinaryConvSchema.ConvGruState, x.Dims, "X");
        int batch = (int)x.Dims[0], height = (int)x.Dims[2], width = (int)x.Dims[3];
        var y = (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, 0, x.Dims));
        if (x.ElementCount == 0) return;
        _cell.Run((float*)x.Data, (float*)h.Data, strides, batch, height, width, y, Math.Max(1, OrtParallelRunner.Threads), OrtParallelRunner.For(context));
    }

    public void Dispose() => _cell.Dispose();
}
