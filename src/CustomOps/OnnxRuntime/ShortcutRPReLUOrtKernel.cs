using BiVM.Contracts;
using BiVM.CustomOps.Activation;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// The ShortcutRPReLU node's kernel: the per-channel constants (AddendScale, ShiftIn, Slope, ShiftOut) are read once at
/// creation; Compute checks X and Addend and runs <see cref="ShortcutRPReLU"/> over the channel planes in parallel on
/// the session's intra-op threads.
/// </summary>
internal sealed unsafe class ShortcutRPReLUOrtKernel : IBiVMKernel
{
    private readonly float[] _shiftIn, _slope, _shiftOut;
    private readonly float _scale;
    private readonly bool _hasAddend;

    private ShortcutRPReLUOrtKernel(string location, float[] shiftIn, float[] slope, float[] shiftOut, float scale, bool hasAddend)
    {
        Location = location;
        _shiftIn = shiftIn;
        _slope = slope;
        _shiftOut = shiftOut;
        _scale = scale;
        _hasAddend = hasAddend;
    }

    public string Location { get; }

    public static ShortcutRPReLUOrtKernel Create(BiVMOpDefinition op, nint info, out string nodeName)
    {
        nodeName = OrtApi.KernelInfoNodeName(info);
        int inputs = OrtApi.KernelInfoInputCount(info);
        if (inputs != BinaryConvSchema.ActivationInputCount)
            throw new OpValidationException($"needs {BinaryConvSchema.ActivationInputCount} inputs X, Addend, AddendScale (both may be the empty name), ShiftIn, Slope, ShiftOut; got {inputs}");
        bool hasAddend = Present(info, BinaryConvSchema.ActivationAddend);
        float scale = 1f;
        if (Present(info, BinaryConvSchema.ActivationAddendScale))
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
        return new ShortcutRPReLUOrtKernel(BinaryConvOrtKernel.Where(op, nodeName), shiftIn, slope, shiftOut, scale, hasAddend);
    }

    private static bool Present(nint info, int index) => OrtApi.KernelInfoInputName(info, index).Length > 0;

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
        float* addend = null;
        if (_hasAddend)
        {
            var a = OrtTensorView.Read(OrtApi.KernelContextInput(context, BinaryConvSchema.ActivationAddend));
            if (a.Type != OrtElementType.Float || !a.Dims.SequenceEqual(x.Dims))
                throw new OpValidationException($"Addend must be float32 with X's shape {x.Shape}, got {OrtTensorView.TypeText(a.Type)} {a.Shape}");
            addend = (float*)a.Data;
        }
        var y = (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, 0, x.Dims));
        if (x.ElementCount == 0) return;
        int channels = _shiftIn.Length, batch = checked((int)x.Dims[0]);
        long plane = x.Dims[2] * x.Dims[3];
        if (plane > int.MaxValue) throw new OpValidationException($"X {x.Shape} is too large");
        var src = (float*)x.Data;
        // One channel plane per task: its four constants are scalars there, and a plane is one contiguous stream.
        OrtParallelRunner.For(context)(batch * channels, i =>
        {
            int c = i % channels;
            long offset = i * plane;
            ShortcutRPReLU.Apply(src + offset, addend is null ? null : addend + offset, _scale, _shiftIn[c], _slope[c], _shiftOut[c], y + offset, (int)plane);
        });
    }

    public void Dispose()
    {
    }
}
