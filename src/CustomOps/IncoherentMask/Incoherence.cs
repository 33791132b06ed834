using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using BiVM.CustomOps.Upsampling;

namespace BiVM.CustomOps.IncoherentMask;

/// <summary>
/// The front of SHB's incoherent mask (the paper's eq. 14; src/Export/IncoherentMaskWriter.cs writes it in standard
/// ops), one output row at a time: for each position of row oy, d = the mean over the channels of |F − up(S)|, up the ×2
/// bilinear resampling of the features' 2×2 average pool cropped to F's size, and the count of channels with F ≥ 0.
/// The same float32 operations as ONNX Runtime's nodes, so the same bits: up(S) is <see cref="Upsample2x"/> (ORT's
/// Resize, measured equal), F − up and its absolute value are one rounding and none, and ReduceMean is the channels' sum
/// in channel order divided by C (checked against ONNX Runtime 1.31.1 for C = 3, 5, 64, 100 and 128, one and two
/// threads: docs/kernels.md, nineteenth session). The count is an integer below 2²⁴, exact in float32 in any order.
/// </summary>
internal static unsafe class Incoherence
{
    /// <summary>
    /// Row <paramref name="oy"/> of one image: the row's W = <paramref name="xs"/>.OutputLength values of D at
    /// <paramref name="d"/> and of Positives at <paramref name="positives"/>, from F (<paramref name="channels"/> planes of
    /// H × W at <paramref name="f"/>, H = <paramref name="ys"/>.OutputLength) and S (planes of h × w at <paramref name="s"/>,
    /// w = <paramref name="inWidth"/>); <paramref name="scratch"/> holds 2·W floats.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Row(float* f, float* s, int channels, int inWidth, BilinearAxis ys, BilinearAxis xs, int oy, float* d, float* positives, float* scratch)
    {
        int width = xs.OutputLength, height = ys.OutputLength, inHeight = ys.InputLength;
        float* up = scratch, sum = scratch + width;
        new Span<float>(sum, width).Clear();
        new Span<float>(positives, width).Clear();
        long plane = (long)height * width, inPlane = (long)inHeight * inWidth;
        for (int c = 0; c < channels; c++)
        {
            Upsample2x.Rows(s + c * inPlane, inWidth, ys, xs, oy, oy + 1, up, Upsample2x.BestLanes);
            float* row = f + c * plane + (long)oy * width;
            int x = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; x + 16 <= width; x += 16)
                {
                    var v = Vector512.Load(row + x);
                    (Vector512.Load(sum + x) + Vector512.Abs(v - Vector512.Load(up + x))).Store(sum + x);
                    (Vector512.Load(positives + x) + (Vector512.GreaterThanOrEqual(v, Vector512<float>.Zero).AsSingle() & Vector512.Create(1f))).Store(positives + x);
                }
            if (Vector256.IsHardwareAccelerated)
                for (; x + 8 <= width; x += 8)
                {
                    var v = Vector256.Load(row + x);
                    (Vector256.Load(sum + x) + Vector256.Abs(v - Vector256.Load(up + x))).Store(sum + x);
                    (Vector256.Load(positives + x) + (Vector256.GreaterThanOrEqual(v, Vector256<float>.Zero).AsSingle() & Vector256.Create(1f))).Store(positives + x);
                }
            for (; x < width; x++)
            {
                sum[x] += MathF.Abs(row[x] - up[x]);
                if (row[x] >= 0f) positives[x] += 1f;
            }
        }
        float n = channels;
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= width; i += 16) (Vector512.Load(sum + i) / Vector512.Create(n)).Store(d + i);
        for (; i < width; i++) d[i] = sum[i] / n;
    }
}
