using BiVM.Contracts;
using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.IncoherentMask;
using BiVM.CustomOps.Upsampling;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// Incoherence: the front of SHB's incoherent mask (<see cref="Incoherence"/>), a band of output rows of one image per
/// task. It stands for the ten standard nodes the exporter writes there (src/Graph/IncoherenceFusion.cs), which ONNX
/// Runtime ran one after the other on small tensors (a 128-channel 18 × 32 map at 512×288: 0.3 ms of a frame).
/// </summary>
internal sealed unsafe class IncoherenceOrtKernel : IBiVMKernel
{
    private (BilinearAxis Rows, BilinearAxis Columns)? _axes;

    private IncoherenceOrtKernel(string location) => Location = location;

    public string Location { get; }

    public static IncoherenceOrtKernel Create(BiVMOpDefinition op, nint info, out string nodeName)
    {
        nodeName = OrtApi.KernelInfoNodeName(info);
        if (OrtApi.KernelInfoInputCount(info) != BinaryConvSchema.IncoherenceInputCount) throw new OpValidationException("needs two inputs, F and S");
        return new IncoherenceOrtKernel(BinaryConvOrtKernel.Where(op, nodeName));
    }

    public void Compute(nint context)
    {
        var f = GruTensors.Rank4(context, BinaryConvSchema.IncoherenceF, "F");
        var s = GruTensors.Rank4(context, BinaryConvSchema.IncoherenceS, "S");
        if (s.Dims[0] != f.Dims[0] || s.Dims[1] != f.Dims[1])
            throw new OpValidationException($"S {s.Shape} must have F's N and C {f.Shape}");
        if (f.Dims[2] > 2 * s.Dims[2] || f.Dims[3] > 2 * s.Dims[3] || f.Dims[2] > 0 && f.Dims[3] > 0 && (s.Dims[2] == 0 || s.Dims[3] == 0))
            throw new OpValidationException($"F {f.Shape} must be at most twice S {s.Shape} in H and W (S is F's 2×2 pool)");
        if (f.Dims.Any(d => d > int.MaxValue) || f.Dims[2] * f.Dims[3] > int.MaxValue) throw new OpValidationException($"F {f.Shape} is too large");
        int batch = (int)f.Dims[0], channels = (int)f.Dims[1], height = (int)f.Dims[2], width = (int)f.Dims[3];
        int inHeight = (int)s.Dims[2], inWidth = (int)s.Dims[3];
        long positions = (long)height * width;
        var d = (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.IncoherenceD, [batch, positions]));
        var positives = (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.IncoherencePositives, [batch, 1, positions]));
        if (batch == 0 || positions == 0) return;
        if (channels == 0) throw new OpValidationException($"F {f.Shape} has no channel: its mean is undefined");

        var axes = _axes;
        if (axes is not { } known || known.Rows.InputLength != inHeight || known.Rows.OutputLength != height
            || known.Columns.InputLength != inWidth || known.Columns.OutputLength != width)
            _axes = axes = (BilinearAxis.Doubled(inHeight, height), BilinearAxis.Doubled(inWidth, width));
        var (rows, columns) = axes.Value;
        float* pf = (float*)f.Data, ps = (float*)s.Data;
        long plane = (long)channels * positions, inPlane = (long)channels * inHeight * inWidth;
        int band = Math.Clamp(BandValues / Math.Max(1, channels * width), 1, height), bands = (height + band - 1) / band;
        OrtParallelRunner.For(context)(batch * bands, task =>
        {
            int n = task / bands, oy0 = task % bands * band, oy1 = Math.Min(height, oy0 + band);
            float* scratch = ThreadScratch.Rows(2 * width);
            for (int oy = oy0; oy < oy1; oy++)
                Incoherence.Row(pf + n * plane, ps + n * inPlane, channels, inWidth, rows, columns, oy,
                    d + n * positions + (long)oy * width, positives + n * positions + (long)oy * width, scratch);
        });
    }

    /// <summary>Channel values per task (a band of whole rows; at least one row).</summary>
    private const int BandValues = 32768;

    public void Dispose()
    {
    }
}
