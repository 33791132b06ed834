using BiVM.Contracts;
using BiVM.CustomOps.GuidedFilter;
using BiVM.CustomOps.Upsampling;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// The GuidedUpsample node's kernel: checks A, B and Src, builds (or reuses) the bilinear sampling of both axes
/// for this pair of sizes, and runs <see cref="GuidedUpsample.Rows"/> over blocks of output rows on the session's
/// intra-op threads. Without A (the empty name: the tail alone, B at Src's size) it runs <see cref="GuidedUpsample.Tail"/>
/// over stretches of the planes instead.
/// </summary>
internal sealed unsafe class GuidedUpsampleOrtKernel : IBiVMKernel
{
    /// <summary>Output rows per task: enough that re-expanding a block's first input rows costs little (at r = 0.25 a block of 64 rows reads 17 input rows, one of them expanded twice).</summary>
    private const int RowsPerTask = 64;

    /// <summary>The last sizes' sampling, reused while the frame size stays (ORT may call Compute from several threads; the tuple is replaced whole).</summary>
    private (BilinearAxis Rows, BilinearAxis Columns)? _axes;

    /// <summary>Values of each plane per task of the tail without A: a few tasks per thread at 512×288, each a long stream.</summary>
    private const int TailValuesPerTask = 16384;

    /// <summary>Whether A is given; without it the node is the tail alone (<see cref="GuidedUpsample.Tail"/>).</summary>
    private readonly bool _hasA;

    private GuidedUpsampleOrtKernel(string location, bool hasA) => (Location, _hasA) = (location, hasA);

    public string Location { get; }

    public static GuidedUpsampleOrtKernel Create(BiVMOpDefinition op, nint info, out string nodeName)
    {
        nodeName = OrtApi.KernelInfoNodeName(info);
        int inputs = OrtApi.KernelInfoInputCount(info), outputs = OrtApi.KernelInfoOutputCount(info);
        if (inputs != BinaryConvSchema.GuidedInputCount)
            throw new OpValidationException($"needs inputs A, B, Src; got {inputs}");
        if (outputs != BinaryConvSchema.GuidedOutputCount)
            throw new OpValidationException($"needs outputs Fgr, Pha; got {outputs}");
        return new GuidedUpsampleOrtKernel(BinaryConvOrtKernel.Where(op, nodeName), OrtApi.KernelInfoInputName(info, BinaryConvSchema.GuidedA).Length > 0);
    }

    public void Compute(nint context)
    {
        if (!_hasA)
        {
            ComputeTail(context);
            return;
        }
        var a = Input(context, BinaryConvSchema.GuidedA, "A");
        var b = Input(context, BinaryConvSchema.GuidedB, "B");
        var src = Input(context, BinaryConvSchema.GuidedSource, "Src");
        if (a.Dims[1] != GuidedUpsample.Channels) throw new OpValidationException($"A must have {GuidedUpsample.Channels} channels [N, 4, h, w], got {a.Shape}");
        if (!b.Dims.SequenceEqual(a.Dims)) throw new OpValidationException($"B must have A's shape {a.Shape}, got {b.Shape}");
        if (src.Dims[1] != 3) throw new OpValidationException($"Src must have 3 channels [N, 3, H, W], got {src.Shape}");
        if (src.Dims[0] != a.Dims[0]) throw new OpValidationException($"batch mismatch: A {a.Shape}, Src {src.Shape}");
        if (a.Dims.Concat(src.Dims).Any(d => d > int.MaxValue) || src.Dims[2] * src.Dims[3] > int.MaxValue / 3)
            throw new OpValidationException($"Src {src.Shape} is too large");
        int batch = (int)src.Dims[0], h = (int)a.Dims[2], w = (int)a.Dims[3], height = (int)src.Dims[2], width = (int)src.Dims[3];
        if (batch > 0 && height > 0 && width > 0 && (h == 0 || w == 0))
            throw new OpValidationException($"A {a.Shape} is empty but Src {src.Shape} is not: nothing to sample from");
        var fgr = (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.GuidedFgr, [batch, 3, height, width]));
        var pha = (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.GuidedPha, [batch, 1, height, width]));
        if (src.ElementCount == 0) return;

        var axes = _axes;
        if (axes is not { } known || known.Rows.InputLength != h || known.Rows.OutputLength != height
            || known.Columns.InputLength != w || known.Columns.OutputLength != width)
            _axes = axes = (BilinearAxis.Create(h, height), BilinearAxis.Create(w, width));
        var (rows, columns) = axes.Value;
        float* pa = (float*)a.Data, pb = (float*)b.Data, ps = (float*)src.Data;
        long small = 4L * h * w, plane = (long)height * width;
        int blocks = (height + RowsPerTask - 1) / RowsPerTask;
        OrtParallelRunner.For(context)(batch * blocks, task =>
        {
            int n = task / blocks, start = task % blocks * RowsPerTask;
            float* scratch = GuidedUpsample.Scratch(width);
            GuidedUpsample.Rows(pa + n * small, pb + n * small, rows, columns, ps + n * 3 * plane, fgr + n * 3 * plane, pha + n * plane,
                start, Math.Min(start + RowsPerTask, height), scratch, GuidedUpsample.BestLanes);
        });
    }

    /// <summary>Without A: B [N, 4, H, W] at Src's N, H and W; Fgr and Pha from B and Src alone, value by value.</summary>
    private static void ComputeTail(nint context)
    {
        var b = Input(context, BinaryConvSchema.GuidedB, "B");
        var src = Input(context, BinaryConvSchema.GuidedSource, "Src");
        if (src.Dims[1] != 3) throw new OpValidationException($"Src must have 3 channels [N, 3, H, W], got {src.Shape}");
        long[] expected = [src.Dims[0], GuidedUpsample.Channels, src.Dims[2], src.Dims[3]];
        if (!b.Dims.SequenceEqual(expected))
            throw new OpValidationException($"without A, B must be [N, 4, H, W] at Src's size = {OrtTensorView.ShapeText(expected)} (Src {src.Shape}), got {b.Shape}");
        long batch = src.Dims[0], plane = src.Dims[2] * src.Dims[3];
        var fgr = (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.GuidedFgr, [batch, 3, src.Dims[2], src.Dims[3]]));
        var pha = (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.GuidedPha, [batch, 1, src.Dims[2], src.Dims[3]]));
        if (src.ElementCount == 0) return;
        if (batch * ((plane + TailValuesPerTask - 1) / TailValuesPerTask) > int.MaxValue) throw new OpValidationException($"Src {src.Shape} is too large");
        float* pb = (float*)b.Data, ps = (float*)src.Data;
        int stretches = (int)((plane + TailValuesPerTask - 1) / TailValuesPerTask);
        OrtParallelRunner.For(context)((int)batch * stretches, task =>
        {
            long n = task / stretches, start = (long)(task % stretches) * TailValuesPerTask;
            GuidedUpsample.Tail(pb + n * 4 * plane, ps + n * 3 * plane, plane, fgr + n * 3 * plane, pha + n * plane,
                start, Math.Min(start + TailValuesPerTask, plane), GuidedUpsample.BestLanes);
        });
    }

    /// <summary>A float32 rank-4 input, or one line saying what it is instead.</summary>
    private static OrtTensorView Input(nint context, int index, string name)
    {
        var t = OrtTensorView.Read(OrtApi.KernelContextInput(context, index));
        if (t.Type != OrtElementType.Float || t.Dims.Length != 4)
            throw new OpValidationException($"{name} must be float32 [N, C, H, W], got {OrtTensorView.TypeText(t.Type)} {t.Shape}");
        return t;
    }

    public void Dispose()
    {
    }
}
