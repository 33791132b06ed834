using BiVM.Contracts;
using BiVM.CustomOps.Pooling;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// AveragePool2x: ONNX AveragePool 2×2, stride 2, no pads (<see cref="AveragePool2x"/>), a band of output rows of one
/// channel plane per task. Written for the source pyramid's three-channel pools, which ONNX Runtime runs with MLAS's
/// NCHW kernels in two passes over each row, and, in its NCHWc kernels' order (row_order), for the backbone's pools,
/// which it ran between a reorder into its blocked layout and one back (src/Graph/AveragePoolFusion.cs).
/// </summary>
internal sealed unsafe class AveragePool2xOrtKernel : IBiVMKernel
{
    private readonly bool _ceilMode, _rowOrder;

    private AveragePool2xOrtKernel(string location, bool ceilMode, bool rowOrder)
    {
        Location = location;
        _ceilMode = ceilMode;
        _rowOrder = rowOrder;
    }

    public string Location { get; }

    public static AveragePool2xOrtKernel Create(BiVMOpDefinition op, nint info, out string nodeName)
    {
        nodeName = OrtApi.KernelInfoNodeName(info);
        if (OrtApi.KernelInfoInputCount(info) != 1) throw new OpValidationException("needs one input X");
        long ceil = OrtApi.KernelInfoAttributeInt(info, BinaryConvSchema.PoolCeilMode) ?? 0;
        if (ceil is not (0 or 1)) throw new OpValidationException($"attribute {BinaryConvSchema.PoolCeilMode} must be 0 or 1, got {ceil}");
        long rowOrder = OrtApi.KernelInfoAttributeInt(info, BinaryConvSchema.PoolRowOrder) ?? 0;
        if (rowOrder is not (0 or 1)) throw new OpValidationException($"attribute {BinaryConvSchema.PoolRowOrder} must be 0 or 1, got {rowOrder}");
        return new AveragePool2xOrtKernel(BinaryConvOrtKernel.Where(op, nodeName), ceil == 1, rowOrder == 1);
    }

    public void Compute(nint context)
    {
        var x = GruTensors.Rank4(context, 0, "X");
        int batch = (int)x.Dims[0], channels = (int)x.Dims[1], height = (int)x.Dims[2], width = (int)x.Dims[3];
        int outHeight = (int)AveragePool2x.OutputLength(height, _ceilMode), outWidth = (int)AveragePool2x.OutputLength(width, _ceilMode);
        if (outHeight == 0 || outWidth == 0)
            throw new OpValidationException($"X {x.Shape} is too small for a 2×2 window (without ceil_mode each side needs 2 values)");
        var y = (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, 0, [batch, channels, outHeight, outWidth]));
        if (x.ElementCount == 0) return;
        float* src = (float*)x.Data;
        long plane = (long)height * width, outPlane = (long)outHeight * outWidth;
        // Tasks of about BandOutputs outputs (bands of rows of one plane): a task per row cost more than its work on
        // the backbone's 32-wide rows.
        int band = Math.Clamp(BandOutputs / outWidth, 1, outHeight), bands = (outHeight + band - 1) / band;
        OrtParallelRunner.For(context)(batch * channels * bands, task =>
        {
            int p = task / bands, i0 = task % bands * band, i1 = Math.Min(outHeight, i0 + band);
            for (int i = i0; i < i1; i++)
                AveragePool2x.Row(src + p * plane, height, width, outWidth, i, y + p * outPlane + (long)i * outWidth, _rowOrder);
        });
    }

    /// <summary>Outputs per task (a band of whole rows; at least one row).</summary>
    private const int BandOutputs = 8192;

    public void Dispose()
    {
    }
}
