namespace BiVM.Model.Binarization;

/// <summary>
/// Geometry of one square convolution. Padding is always (k − 1)/2 · dilation, i.e. RVM's and the
/// paper's "same" padding; a stride-2 layer therefore gives ceil(H/2), matching AvgPool2d(2, ceil_mode).
/// </summary>
public sealed record ConvSpec(long In, long Out, long Kernel, long Stride = 1, long Dilation = 1, long Groups = 1, bool Bias = false)
{
    public long Padding => (Kernel - 1) / 2 * Dilation;
}
