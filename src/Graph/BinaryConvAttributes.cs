namespace BiVM.Graph;

/// <summary>Conv attributes in ONNX form (pads = [top, left, bottom, right]) shared by the custom node and its lowering.</summary>
public sealed record BinaryConvAttributes(long[] KernelShape, long[] Strides, long[] Pads, long[] Dilations)
{
    /// <summary>k×k, same stride/dilation both ways, "same"-style padding dilation·(k − 1)/2 unless given.</summary>
    public static BinaryConvAttributes Square(int k, int stride = 1, int dilation = 1, int pad = -1)
    {
        long p = pad >= 0 ? pad : dilation * (k - 1) / 2;
        return new([k, k], [stride, stride], [p, p, p, p], [dilation, dilation]);
    }
}
