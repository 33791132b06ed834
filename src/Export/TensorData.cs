using static TorchSharp.torch;

namespace BiVM.Export;

/// <summary>Copies TorchSharp tensors into the float arrays that ONNX initializers are made of.</summary>
internal static class TensorData
{
    public static float[] Floats(Tensor t)
    {
        using var cpu = t.detach().cpu().to_type(ScalarType.Float32).contiguous();
        return cpu.data<float>().ToArray();
    }

    /// <summary>A 0-dimensional (or one-element) parameter such as EBB's γ.</summary>
    public static float Scalar(Tensor t) => Floats(t).Single();
}
