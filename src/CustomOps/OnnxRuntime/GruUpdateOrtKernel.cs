using BiVM.Contracts;
using BiVM.CustomOps.Recurrent;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// GruUpdate: the ConvGRU's next state h' = (1 − Z)·State + Z·tanh(Candidate) from the second binary conv's output
/// (<see cref="ConvGru.Update"/>), one channel plane per task.
/// </summary>
internal sealed unsafe class GruUpdateOrtKernel : IBiVMKernel
{
    private GruUpdateOrtKernel(string location) => Location = location;

    public string Location { get; }

    public static GruUpdateOrtKernel Create(BiVMOpDefinition op, nint info, out string nodeName)
    {
        nodeName = OrtApi.KernelInfoNodeName(info);
        if (OrtApi.KernelInfoInputCount(info) != BinaryConvSchema.GruUpdateInputCount)
            throw new OpValidationException("needs inputs Candidate, Z, State");
        return new GruUpdateOrtKernel(BinaryConvOrtKernel.Where(op, nodeName));
    }

    public void Compute(nint context)
    {
        var c = GruTensors.Rank4(context, BinaryConvSchema.GruUpdateCandidate, "Candidate");
        var zv = GruTensors.Rank4(context, BinaryConvSchema.GruUpdateZ, "Z");
        if (!zv.Dims.SequenceEqual(c.Dims)) throw new OpValidationException($"Z must have Candidate's shape {c.Shape}, got {zv.Shape}");
        var (h, strides) = GruTensors.State(context, BinaryConvSchema.GruUpdateState, c.Dims, "Candidate");
        int batch = (int)c.Dims[0], channels = (int)c.Dims[1], height = (int)c.Dims[2], width = (int)c.Dims[3];
        var y = (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, 0, c.Dims));
        if (c.ElementCount == 0) return;
        float* candidate = (float*)c.Data, z = (float*)zv.Data, state = (float*)h.Data;
        long plane = (long)height * width;
        var (runs, length) = GruTensors.Runs(strides, height, width);
        int lanes = ConvGru.BestLanes;
        OrtParallelRunner.For(context)(batch * channels, task =>
        {
            long at = (long)task * plane;
            int n = task / channels, c = task % channels;
            for (int k = 0; k < runs; k++)
            {
                long offset = at + (long)k * length;
                ConvGru.Update(candidate + offset, z + offset, state + strides.RowOffset(n, c, k), strides.RowRepeats, y + offset, length, lanes);
            }
        });
    }

    public void Dispose()
    {
    }
}
