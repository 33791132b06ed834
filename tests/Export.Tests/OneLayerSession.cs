using BiVM.CustomOps.OnnxRuntime;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace BiVM.Export.Tests;

/// <summary>A one-layer graph X (and Mask) → Y with the ai.bivm ops registered and no graph rewrites.</summary>
internal sealed class OneLayerSession(byte[] model) : IDisposable
{
    private readonly InferenceSession _session = Create(model);

    private static InferenceSession Create(byte[] model)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        BiVMOps.Register(options);
        return new InferenceSession(model, options);
    }

    public float[] Run(float[] x, int[] shape, byte[]? mask, int[]? maskShape)
    {
        var inputs = new List<NamedOnnxValue> { NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, shape)) };
        if (mask is not null) inputs.Add(NamedOnnxValue.CreateFromTensor("Mask", new DenseTensor<byte>(mask, maskShape!)));
        using var results = _session.Run(inputs);
        return results.First().AsTensor<float>().ToArray();
    }

    public void Dispose() => _session.Dispose();
}
