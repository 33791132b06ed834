using static TorchSharp.torch;

namespace BiVM.Model.Encoder;

/// <summary>
/// (x − mean)/std with ImageNet statistics, applied only inside the encoders: RVM's decoder sees the
/// un-normalised frame (rvm-architecture.md §1).
/// </summary>
public static class ImageNetNormalization
{
    private static readonly float[] Mean = { 0.485f, 0.456f, 0.406f };
    private static readonly float[] Std = { 0.229f, 0.224f, 0.225f };

    public static Tensor Apply(Tensor rgb)
    {
        using var mean = tensor(Mean, dtype: rgb.dtype).view(1, 3, 1, 1);
        using var std = tensor(Std, dtype: rgb.dtype).view(1, 3, 1, 1);
        return (rgb - mean) / std;
    }
}
