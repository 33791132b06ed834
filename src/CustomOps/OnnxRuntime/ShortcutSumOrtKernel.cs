using BiVM.Contracts;
using BiVM.CustomOps.Activation;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// The ShortcutSum node's kernel: the scales are read once at creation; Compute checks X and the terms and runs
/// <see cref="ShortcutSum"/> one output channel plane per task on the session's intra-op threads, each term's plane
/// picked by the channel repetition (channel c reads term channel c mod Cᵢ).
/// </summary>
internal sealed unsafe class ShortcutSumOrtKernel : IBiVMKernel
{
    private readonly float[] _scales;
    private readonly long[] _repeats;

    private ShortcutSumOrtKernel(string location, float[] scales, long[] repeats)
    {
        Location = location;
        _scales = scales;
        _repeats = repeats;
    }

    public string Location { get; }

    public static ShortcutSumOrtKernel Create(BiVMOpDefinition op, nint info, out string nodeName)
    {
        nodeName = OrtApi.KernelInfoNodeName(info);
        int inputs = OrtApi.KernelInfoInputCount(info);
        if (inputs < 2) throw new OpValidationException($"needs X and at least one term, got {inputs} input(s)");
        var scales = OrtApi.KernelInfoAttributeFloats(info, BinaryConvSchema.ShortcutSumScales)
            ?? throw new OpValidationException($"attribute {BinaryConvSchema.ShortcutSumScales} (one float per term) is missing");
        if (scales.Length != inputs - 1)
            throw new OpValidationException($"attribute {BinaryConvSchema.ShortcutSumScales} has {scales.Length} values for {inputs - 1} term(s)");
        var repeats = OrtApi.KernelInfoAttributeInts(info, BinaryConvSchema.ShortcutSumRepeats)
            ?? throw new OpValidationException($"attribute {BinaryConvSchema.ShortcutSumRepeats} (one int per term) is missing");
        if (repeats.Length != inputs - 1 || repeats.Any(r => r < 1))
            throw new OpValidationException($"attribute {BinaryConvSchema.ShortcutSumRepeats} must have one value >= 1 per term ({inputs - 1}), got [{string.Join(", ", repeats)}]");
        return new ShortcutSumOrtKernel(BinaryConvOrtKernel.Where(op, nodeName), scales, repeats);
    }

    public void Compute(nint context)
    {
        var x = OrtTensorView.Read(OrtApi.KernelContextInput(context, 0));
        if (x.Type != OrtElementType.Float) throw new OpValidationException($"X must be float32, got {OrtTensorView.TypeText(x.Type)}");
        if (x.Dims.Length != 4) throw new OpValidationException($"X must have rank 4 [N, C, H, W], got rank {x.Dims.Length} {x.Shape}");
        if (x.Dims.Any(d => d > int.MaxValue)) throw new OpValidationException($"X {x.Shape} is too large");
        int terms = _scales.Length;
        var data = new nint[terms];
        var termChannels = new int[terms];
        for (int t = 0; t < terms; t++)
        {
            var z = OrtTensorView.Read(OrtApi.KernelContextInput(context, t + 1));
            long[] expected = [x.Dims[0], x.Dims[1] / _repeats[t], x.Dims[2], x.Dims[3]];
            if (x.Dims[1] % _repeats[t] != 0 || z.Type != OrtElementType.Float || !z.Dims.SequenceEqual(expected))
                throw new OpValidationException(x.Dims[1] % _repeats[t] != 0
                    ? $"X {x.Shape} has {x.Dims[1]} channels, not a multiple of term {t + 1}'s repeat {_repeats[t]}"
                    : $"term {t + 1} must be float32 {OrtTensorView.ShapeText(expected)} (X {x.Shape}, repeat {_repeats[t]}), got {OrtTensorView.TypeText(z.Type)} {z.Shape}");
            data[t] = (nint)z.Data;
            termChannels[t] = (int)z.Dims[1];
        }
        var y = (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, 0, x.Dims));
        int batch = (int)x.Dims[0], channels = (int)x.Dims[1];
        long plane = x.Dims[2] * x.Dims[3];
        if (x.ElementCount == 0) return;
        if (plane > int.MaxValue) throw new OpValidationException($"X {x.Shape}: a channel plane of over 2^31 values is too large");
        var src = (float*)x.Data;
        InPlace.Note(src, y);
        OrtParallelRunner.For(context)(batch * channels, i =>
        {
            int n = i / channels, c = i % channels;
            float** planes = stackalloc float*[terms];
            for (int t = 0; t < terms; t++)
                planes[t] = (float*)data[t] + ((long)n * termChannels[t] + c % termChannels[t]) * plane;
            fixed (float* scales = _scales)
                ShortcutSum.Apply(src + i * plane, planes, scales, terms, y + i * plane, (int)plane);
        });
    }

    public void Dispose()
    {
    }
}
