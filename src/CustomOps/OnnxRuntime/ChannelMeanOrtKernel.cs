using BiVM.CustomOps.Pooling;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// ChannelMean: ONNX GlobalAveragePool in MLAS's summation order (<see cref="ChannelMean"/>), a group of channel planes
/// per task. It stands for the GlobalAveragePool of BiVM's LR-ASPP (and RVM-ReActNet's, over its last glue:
/// src/Graph/ChannelMeanFusion.cs), which ONNX Runtime ran one plane's chain of additions after the other.
/// </summary>
internal sealed unsafe class ChannelMeanOrtKernel : IBiVMKernel
{
    private ChannelMeanOrtKernel(string location) => Location = location;

    public string Location { get; }

    public static ChannelMeanOrtKernel Create(BiVMOpDefinition op, nint info, out string nodeName)
    {
        nodeName = OrtApi.KernelInfoNodeName(info);
        if (OrtApi.KernelInfoInputCount(info) != 1) throw new OpValidationException("needs one input X");
        return new ChannelMeanOrtKernel(BinaryConvOrtKernel.Where(op, nodeName));
    }

    public void Compute(nint context)
    {
        var x = OrtTensorView.Read(OrtApi.KernelContextInput(context, 0));
        if (x.Type != OrtElementType.Float || x.Dims.Length < 3)
            throw new OpValidationException($"X must be float32 [N, C, D1, …] (rank 3 or more), got {OrtTensorView.TypeText(x.Type)} {x.Shape}");
        long planes = x.Dims[0] * x.Dims[1], count = 1;
        for (int d = 2; d < x.Dims.Length; d++) count *= x.Dims[d];
        if (planes > int.MaxValue) throw new OpValidationException($"X {x.Shape} has too many channel planes");
        // As ONNX Runtime's pool: only N may be zero (a plane of no values has no mean).
        if (count == 0 && x.Dims[0] != 0) throw new OpValidationException($"X {x.Shape} has empty channel planes: only N can be zero");
        var yDims = new long[x.Dims.Length];
        yDims[0] = x.Dims[0];
        yDims[1] = x.Dims[1];
        for (int d = 2; d < yDims.Length; d++) yDims[d] = 1;
        var y = (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, 0, yDims));
        if (planes == 0) return;
        float* src = (float*)x.Data;
        // Tasks of whole groups of interleaved planes, about GroupValues values each.
        int group = (int)Math.Clamp(GroupValues / count / ChannelMean.Interleave, 1, int.MaxValue / ChannelMean.Interleave) * ChannelMean.Interleave;
        int total = (int)planes, tasks = (int)((planes + group - 1) / group);
        OrtParallelRunner.For(context)(tasks, task =>
        {
            int first = task * group;
            ChannelMean.Planes(src, count, first, Math.Min(group, total - first), y);
        });
    }

    /// <summary>Values per task (whole groups of <see cref="ChannelMean.Interleave"/> planes; at least one group).</summary>
    private const long GroupValues = 64 * 1024;

    public void Dispose()
    {
    }
}
