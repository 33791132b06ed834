using BiVM.Contracts;
using BiVM.CustomOps.Recurrent;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// GruGates: from the gate pre-activations G = [g_r, g_z] of the ConvGRU's first binary conv, writes Z = σ(g_z) and
/// Y = Concat(X, σ(g_r)·State), the second conv's input (<see cref="ConvGru"/>), one channel per task: Z's plane,
/// Y's copy of X and Y's reset product.
/// </summary>
internal sealed unsafe class GruGatesOrtKernel : IBiVMKernel
{
    private GruGatesOrtKernel(string location) => Location = location;

    public string Location { get; }

    public static GruGatesOrtKernel Create(BiVMOpDefinition op, nint info, out string nodeName)
    {
        nodeName = OrtApi.KernelInfoNodeName(info);
        if (OrtApi.KernelInfoInputCount(info) != BinaryConvSchema.GruGatesInputCount)
            throw new OpValidationException("needs inputs X, Gates, State");
        if (OrtApi.KernelInfoOutputCount(info) != BinaryConvSchema.GruGatesOutputCount)
            throw new OpValidationException("needs outputs Z, Y");
        return new GruGatesOrtKernel(BinaryConvOrtKernel.Where(op, nodeName));
    }

    public void Compute(nint context)
    {
        var x = GruTensors.Rank4(context, BinaryConvSchema.GruX, "X");
        var g = GruTensors.Rank4(context, BinaryConvSchema.GruGatesPreactivation, "Gates");
        if (g.Dims[0] != x.Dims[0] || g.Dims[1] != 2 * x.Dims[1] || g.Dims[2] != x.Dims[2] || g.Dims[3] != x.Dims[3])
            throw new OpValidationException($"Gates must be [N, 2C, H, W] for X {x.Shape}, got {g.Shape}");
        var (h, strides) = GruTensors.State(context, BinaryConvSchema.GruGatesState, x.Dims, "X");
        int batch = (int)x.Dims[0], channels = (int)x.Dims[1], height = (int)x.Dims[2], width = (int)x.Dims[3];
        var z = (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.GruGatesZ, x.Dims));
        var y = (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.GruGatesY, g.Dims));
        if (x.ElementCount == 0) return;
        float* src = (float*)x.Data, gates = (float*)g.Data, state = (float*)h.Data;
        long plane = (long)height * width;
        var (runs, length) = GruTensors.Runs(strides, height, width);
        int lanes = ConvGru.BestLanes;
        OrtParallelRunner.For(context)(batch * channels, task =>
        {
            int n = task / channels, c = task % channels;
            float* gr = gates + ((long)n * 2 * channels + c) * plane, gz = gr + channels * plane;
            float* yx = y + ((long)n * 2 * channels + c) * plane, yr = yx + channels * plane;
            ConvGru.Sigmoid(gz, z + (long)task * plane, (int)plane, lanes);
            Buffer.MemoryCopy(src + (long)task * plane, yx, plane * sizeof(float), plane * sizeof(float));
            for (int k = 0; k < runs; k++)
                ConvGru.ResetProduct(gr + k * length, state + strides.RowOffset(n, c, k), strides.RowRepeats, yr + k * length, length, lanes);
        });
    }

    public void Dispose()
    {
    }
}
