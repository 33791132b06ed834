using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BiVM.Model.Losses;

/// <summary>
/// The 5-level Laplacian pyramid of RVM's train_loss.py (after Burt and Adelson):
/// G = outer([1,4,6,4,1])/256 with reflect padding; down = (G ∗ x)[::2, ::2];
/// up = G ∗ (zero-insert ×2, values ×4); level l = x − up(down(x)), x ← down(x).
/// Each level first crops x to even height and width so that up(down(x)) matches x.
/// </summary>
public static class LaplacianPyramid
{
    /// <summary>Band-pass levels of x [N, C, H, W]; the low-pass residual is not returned (RVM does not use it).</summary>
    public static List<Tensor> Build(Tensor x, int levels)
    {
        CheckSize(x, levels);
        using var kernel = GaussKernel(x.dtype, x.device);
        var pyramid = new List<Tensor>(levels);
        var current = x;
        for (int l = 0; l < levels; l++)
        {
            long h = current.shape[^2], w = current.shape[^1];
            current = current[.., .., TensorIndex.Slice(0, h - h % 2), TensorIndex.Slice(0, w - w % 2)];
            var down = Downsample(current, kernel);
            pyramid.Add(current - Upsample(down, kernel));
            current = down;
        }
        return pyramid;
    }

    /// <summary>Reflect padding by 2 needs every level (after cropping to even) to be at least 4 pixels.</summary>
    private static void CheckSize(Tensor x, int levels)
    {
        if (x.dim() != 4)
            throw new ArgumentException($"LaplacianPyramid: input must be [N, C, H, W], got [{string.Join(", ", x.shape)}]");
        long h = x.shape[2], w = x.shape[3];
        for (int l = 0; l < levels; l++)
        {
            h -= h % 2; w -= w % 2;
            if (h < 4 || w < 4)
                throw new ArgumentException($"LaplacianPyramid: a {x.shape[2]}×{x.shape[3]} map is too small for {levels} levels (level {l} would be {h}×{w}; each level needs at least 4×4)");
            h /= 2; w /= 2;
        }
    }

    private static Tensor GaussKernel(ScalarType dtype, Device device)
    {
        var g = tensor(new float[] { 1, 4, 6, 4, 1 }, dtype: dtype, device: device);
        return (g.outer(g) / 256f).reshape(1, 1, 5, 5);
    }

    private static Tensor GaussConvolution(Tensor x, Tensor kernel)
    {
        long n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var planes = x.reshape(n * c, 1, h, w);
        planes = F.pad(planes, new long[] { 2, 2, 2, 2 }, TorchSharp.PaddingModes.Reflect);
        return F.conv2d(planes, kernel).reshape(n, c, h, w);
    }

    private static Tensor Downsample(Tensor x, Tensor kernel) =>
        GaussConvolution(x, kernel)[.., .., TensorIndex.Slice(step: 2), TensorIndex.Slice(step: 2)];

    private static Tensor Upsample(Tensor x, Tensor kernel)
    {
        long n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var zeroInserted = zeros(new long[] { n, c, h * 2, w * 2 }, x.dtype, x.device);
        zeroInserted[.., .., TensorIndex.Slice(step: 2), TensorIndex.Slice(step: 2)] = x * 4f;
        return GaussConvolution(zeroInserted, kernel);
    }
}
