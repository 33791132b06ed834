using BiVM.Contracts;
using BiVM.CustomOps.Activation;
using BiVM.CustomOps.BitPacking;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// The ShortcutRPReLU node's kernel: the per-channel constants (AddendScale, ShiftIn, Slope, ShiftOut, TauNext) are
/// read once at creation; Compute checks X and Addend and runs <see cref="ShortcutRPReLU"/> in parallel on the
/// session's intra-op threads. With TauNext it works one image row at a time: every channel's row, then that row's
/// sign bits packed (<see cref="ActivationPacker"/>) while the row is still in L1, for the next binary conv.
/// </summary>
internal sealed unsafe class ShortcutRPReLUOrtKernel : IBiVMKernel
{
    private readonly float[] _shiftIn, _slope, _shiftOut;
    private readonly float[]? _tauNext;
    private readonly float _scale;
    private readonly bool _hasAddend;

    private ShortcutRPReLUOrtKernel(string location, float[] shiftIn, float[] slope, float[] shiftOut, float scale, bool hasAddend, float[]? tauNext)
    {
        Location = location;
        _shiftIn = shiftIn;
        _slope = slope;
        _shiftOut = shiftOut;
        _scale = scale;
        _hasAddend = hasAddend;
        _tauNext = tauNext;
    }

    public string Location { get; }

    public static ShortcutRPReLUOrtKernel Create(BiVMOpDefinition op, nint info, out string nodeName)
    {
        nodeName = OrtApi.KernelInfoNodeName(info);
        int inputs = OrtApi.KernelInfoInputCount(info);
        if (inputs < BinaryConvSchema.ActivationShiftOut + 1)
            throw new OpValidationException($"needs inputs X, Addend, AddendScale (both may be the empty name), ShiftIn, Slope, ShiftOut[, TauNext]; got {inputs}");
        bool Present(int index) => inputs > index && OrtApi.KernelInfoInputName(info, index).Length > 0;
        bool hasAddend = Present(BinaryConvSchema.ActivationAddend);
        float scale = 1f;
        if (Present(BinaryConvSchema.ActivationAddendScale))
        {
            if (!hasAddend) throw new OpValidationException("AddendScale is given without an Addend");
            var s = Constant(info, BinaryConvSchema.ActivationAddendScale, "AddendScale");
            if (s.Type != OrtElementType.Float || s.ElementCount != 1)
                throw new OpValidationException($"AddendScale must be one float32 value, got {OrtTensorView.TypeText(s.Type)} {s.Shape}");
            scale = s.Span<float>()[0];
        }
        var shiftIn = Channels(info, BinaryConvSchema.ActivationShiftIn, "ShiftIn");
        var slope = Channels(info, BinaryConvSchema.ActivationSlope, "Slope");
        var shiftOut = Channels(info, BinaryConvSchema.ActivationShiftOut, "ShiftOut");
        if (slope.Length != shiftIn.Length || shiftOut.Length != shiftIn.Length)
            throw new OpValidationException($"ShiftIn, Slope and ShiftOut must have the same channel count, got {shiftIn.Length}, {slope.Length}, {shiftOut.Length}");
        float[]? tauNext = null;
        bool packedOutput = OrtApi.KernelInfoOutputCount(info) > BinaryConvSchema.ActivationPackedOutput
            && OrtApi.KernelInfoOutputName(info, BinaryConvSchema.ActivationPackedOutput).Length > 0;
        if (Present(BinaryConvSchema.ActivationTauNext))
        {
            tauNext = Channels(info, BinaryConvSchema.ActivationTauNext, "TauNext");
            if (tauNext.Length != shiftIn.Length)
                throw new OpValidationException($"TauNext has {tauNext.Length} values, expected C = {shiftIn.Length}");
            if (!packedOutput) throw new OpValidationException("TauNext is given but output YPacked is not (they go together)");
        }
        else if (packedOutput) throw new OpValidationException("output YPacked needs the TauNext input");
        return new ShortcutRPReLUOrtKernel(BinaryConvOrtKernel.Where(op, nodeName), shiftIn, slope, shiftOut, scale, hasAddend, tauNext);
    }

    private static OrtTensorView Constant(nint info, int index, string name)
    {
        nint value = OrtApi.KernelInfoConstantInput(info, index);
        if (value == 0) throw new OpValidationException($"input {name} must be a constant initializer (it is read once when the session is created)");
        return OrtTensorView.Read(value);
    }

    /// <summary>C values shaped [C], [C, 1, 1] or [1, C, 1, 1] (how the exporter writes RPReLU's parameters).</summary>
    private static float[] Channels(nint info, int index, string name)
    {
        var t = Constant(info, index, name);
        var d = t.Dims;
        bool shaped = d.Length switch
        {
            1 => d[0] > 0,
            3 => d[0] > 0 && d[1] == 1 && d[2] == 1,
            4 => d[0] == 1 && d[1] > 0 && d[2] == 1 && d[3] == 1,
            _ => false,
        };
        if (t.Type != OrtElementType.Float || !shaped)
            throw new OpValidationException($"{name} must be float32 [C], [C, 1, 1] or [1, C, 1, 1], got {OrtTensorView.TypeText(t.Type)} {t.Shape}");
        return t.Span<float>().ToArray();
    }

    public void Compute(nint context)
    {
        var x = OrtTensorView.Read(OrtApi.KernelContextInput(context, BinaryConvSchema.ActivationX));
        if (x.Type != OrtElementType.Float) throw new OpValidationException($"X must be float32, got {OrtTensorView.TypeText(x.Type)}");
        if (x.Dims.Length != 4) throw new OpValidationException($"X must have rank 4 [N, C, H, W], got rank {x.Dims.Length} {x.Shape}");
        if (x.Dims[1] != _shiftIn.Length)
            throw new OpValidationException($"channel mismatch: X {x.Shape} has {x.Dims[1]} channels but ShiftIn, Slope and ShiftOut have {_shiftIn.Length}");
        if (x.Dims.Any(d => d > int.MaxValue)) throw new OpValidationException($"X {x.Shape} is too large");
        float* addend = null;
        if (_hasAddend)
        {
            var a = OrtTensorView.Read(OrtApi.KernelContextInput(context, BinaryConvSchema.ActivationAddend));
            if (a.Type != OrtElementType.Float || !a.Dims.SequenceEqual(x.Dims))
                throw new OpValidationException($"Addend must be float32 with X's shape {x.Shape}, got {OrtTensorView.TypeText(a.Type)} {a.Shape}");
            addend = (float*)a.Data;
        }
        int batch = (int)x.Dims[0], channels = _shiftIn.Length, height = (int)x.Dims[2], width = (int)x.Dims[3];
        var y = (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.ActivationOutput, x.Dims));
        ulong* packed = null;
        if (_tauNext is not null)
        {
            int words = PackedLayout.WordsFor(channels);
            packed = (ulong*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.ActivationPackedOutput, [batch, height, width, words]));
        }
        if (x.ElementCount == 0) return;
        long plane = (long)height * width;
        var src = (float*)x.Data;
        var runner = OrtParallelRunner.For(context);
        if (packed is null)
        {
            // One channel plane per task: its four constants are scalars there, and a plane is one contiguous stream.
            runner(batch * channels, i =>
            {
                int c = i % channels;
                long offset = i * plane;
                ShortcutRPReLU.Apply(src + offset, addend is null ? null : addend + offset, _scale, _shiftIn[c], _slope[c], _shiftOut[c], y + offset, (int)plane);
            });
            return;
        }
        int wordsPerPixel = PackedLayout.WordsFor(channels);
        runner(batch * height, row =>
        {
            int n = row / height, iy = row % height;
            for (int c = 0; c < channels; c++)
            {
                long offset = ((long)n * channels + c) * plane + (long)iy * width;
                ShortcutRPReLU.Apply(src + offset, addend is null ? null : addend + offset, _scale, _shiftIn[c], _slope[c], _shiftOut[c], y + offset, width);
            }
            fixed (float* tau = _tauNext)
                ActivationPacker.PackRow(y, tau, channels, height, width, n, iy, 0, width, packed + (long)row * width * wordsPerPixel);
        });
    }

    public void Dispose()
    {
    }
}
