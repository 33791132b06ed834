using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model;

/// <summary>
/// The fixed ×2 resamplings shared by encoder shortcuts, decoder and SHB mask, so that every size rule
/// agrees with the stride-2 convs: a 3×3 stride-2 "same" conv gives ceil(H/2).
/// </summary>
public static class Resample
{
    /// <summary>AvgPool2d(2, 2, ceil_mode: true, count_include_pad: false), RVM's decoder pooling: ceil(H/2).</summary>
    public static Tensor Down2(Tensor x) =>
        functional.avg_pool2d(x, new long[] { 2, 2 }, new long[] { 2, 2 }, ceil_mode: true, count_include_pad: false);

    /// <summary>Bilinear ×2 (align_corners = false) then crop to (height, width), RVM's decoder upsampling.</summary>
    public static Tensor Up2To(Tensor x, long height, long width)
    {
        var up = functional.interpolate(x, scale_factor: new[] { 2.0, 2.0 }, mode: InterpolationMode.Bilinear, align_corners: false);
        return up[.., .., ..(int)height, ..(int)width];
    }

    /// <summary>Bilinear resize to an explicit size (align_corners = false), the DGF's last step.</summary>
    public static Tensor BilinearTo(Tensor x, long height, long width) =>
        functional.interpolate(x, size: new[] { height, width }, mode: InterpolationMode.Bilinear, align_corners: false);
}
