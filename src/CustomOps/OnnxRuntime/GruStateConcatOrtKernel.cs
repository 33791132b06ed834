using BiVM.Contracts;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// GruStateConcat: Y = Concat(X, State broadcast to X's shape) on the channel axis (ONNX's Concat(x, Expand(h, Shape(x)))),
/// one output plane per task on the session's intra-op threads.
/// </summary>
internal sealed unsafe class GruStateConcatOrtKernel : IBiVMKernel
{
    private GruStateConcatOrtKernel(string location) => Location = location;

    public string Location { get; }

    public static GruStateConcatOrtKernel Create(BiVMOpDefinition op, nint info, out string nodeName)
    {
        nodeName = OrtApi.KernelInfoNodeName(info);
        if (OrtApi.KernelInfoInputCount(info) != BinaryConvSchema.GruStateConcatInputCount)
            throw new OpValidationException("needs inputs X, State");
        return new GruStateConcatOrtKernel(BinaryConvOrtKernel.Where(op, nodeName));
    }

    public void Compute(nint context)
    {
        var x = GruTensors.Rank4(context, BinaryConvSchema.GruX, "X");
        var (h, strides) = GruTensors.State(context, BinaryConvSchema.GruStateConcatState, x.Dims, "X");
        int batch = (int)x.Dims[0], channels = (int)x.Dims[1], height = (int)x.Dims[2], width = (int)x.Dims[3];
        var y = (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, 0, [batch, 2L * channels, height, width]));
        if (x.ElementCount == 0) return;
        float* src = (float*)x.Data, state = (float*)h.Data;
        long plane = (long)height * width;
        var (runs, length) = GruTensors.Runs(strides, height, width);
        OrtParallelRunner.For(context)(batch * 2 * channels, task =>
        {
            int n = task / (2 * channels), c = task % (2 * channels);
            float* dst = y + (long)task * plane;
            if (c < channels)
            {
                Buffer.MemoryCopy(src + ((long)n * channels + c) * plane, dst, plane * sizeof(float), plane * sizeof(float));
                return;
            }
            for (int k = 0; k < runs; k++)
            {
                float* s = state + strides.RowOffset(n, c - channels, k);
                if (strides.RowRepeats) new Span<float>(dst + k * length, length).Fill(s[0]);
                else Buffer.MemoryCopy(s, dst + k * length, length * sizeof(float), length * sizeof(float));
            }
        });
    }

    public void Dispose()
    {
    }
}
