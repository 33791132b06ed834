using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BiVM.CustomOps.GuidedFilter;

/// <summary>
/// The Deep Guided Filter's statistics at the working size, one output row at a time (docs/model-contract.md,
/// "GuidedStatistics"): with the guide x = [X, mean_c(X)] and the coarse output Y (4 channels each), the DGF's box
/// filter box(t) (a depthwise 3×3 conv with zero padding and learned weights), MeanX = box(x), MeanY = box(Y),
/// Cov = box(x·Y) − MeanX·MeanY and Var = box(x·x) − MeanX·MeanX. The standard graph spends thirteen nodes and
/// eleven working-size tensors on it; here each output row reads its three input rows once per channel.
/// </summary>
/// <remarks>
/// The arithmetic is ONNX Runtime's, operation for operation: the channel mean ((X₀ + X₁) + X₂) / 3 (as
/// <see cref="GuidedUpsample"/>), the products x·Y and x·x rounded once, each box value one fused multiply-add per
/// tap in kernel order (row-major, the padded taps' zeros included) from 0, then the bias added (what ORT 1.31.1's
/// NCHWc depthwise kernel computes on x86-64 with FMA, measured identical at 270×480; inside an If ORT runs its plain
/// Conv, which sums in another order: within float rounding there), then the
/// products of the means and the differences rounded once each. The lanes argument of <see cref="Row"/> picks
/// the step (16, 8 or 1 columns); all give the same bits.
/// </remarks>
internal static unsafe class GuidedStatistics
{
    /// <summary>Channels of the guide x and of Y.</summary>
    public const int Channels = 4;

    /// <summary>Taps of the 3×3 box filter.</summary>
    private const int Taps = 9;

    /// <summary>The widest step this CPU runs: 16 (Vector512 hardware), 8 (Vector256), 1.</summary>
    public static int BestLanes => Vector512.IsHardwareAccelerated ? 16 : Vector256.IsHardwareAccelerated ? 8 : 1;

    /// <summary>Floats of scratch <see cref="Row"/> needs for rows of <paramref name="width"/>.</summary>
    public static int ScratchFloats(int width) => 4 * 3 * (width + 2);

    /// <summary>
    /// Output row <paramref name="row"/> of one image: <paramref name="x"/> (3 planes) and <paramref name="y"/> (4 planes)
    /// of <paramref name="height"/> × <paramref name="width"/>; <paramref name="boxWeights"/> [4 · 9] (channel-major,
    /// taps row-major) and <paramref name="boxBias"/> [4]. Writes the row of Cov (channels 0–3 of the stats) and Var
    /// (4–7), channel c's at <paramref name="statsRow"/> + c·<paramref name="statsStride"/> (in a plane: the row's start
    /// and the plane's size; in rows of their own: the width), and the row of <paramref name="meanX"/> and
    /// <paramref name="meanY"/> (planes of height × width each).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Row(float* x, float* y, int height, int width, float* boxWeights, float* boxBias, int row,
        float* statsRow, long statsStride, float* meanX, float* meanY, float* scratch, int lanes)
    {
        if (lanes is not (1 or 8 or 16) || lanes == 16 && !Vector512.IsHardwareAccelerated || lanes == 8 && !Vector256.IsHardwareAccelerated)
            throw new ArgumentOutOfRangeException(nameof(lanes), lanes, "16 needs Vector512 hardware, 8 Vector256, 1 always runs");
        long plane = (long)height * width;
        int padded = width + 2;
        // scratch: 4 quantities (x, y, x·y, x·x) × 3 input rows (above, this, below), each padded with a zero column on both sides.
        float* Rows(int quantity, int kh) => scratch + (quantity * 3 + kh) * padded;
        for (int c = 0; c < Channels; c++)
        {
            for (int kh = 0; kh < 3; kh++)
            {
                int r = row + kh - 1;
                float* gx = Rows(0, kh), gy = Rows(1, kh), gxy = Rows(2, kh), gxx = Rows(3, kh);
                gx[0] = gy[0] = gxy[0] = gxx[0] = 0f;
                gx[padded - 1] = gy[padded - 1] = gxy[padded - 1] = gxx[padded - 1] = 0f;
                if (r < 0 || r >= height)
                {
                    new Span<float>(gx, padded).Clear();
                    new Span<float>(gy, padded).Clear();
                    new Span<float>(gxy, padded).Clear();
                    new Span<float>(gxx, padded).Clear();
                    continue;
                }
                long at = (long)r * width;
                Prepare(x + at, plane, c, y + c * plane + at, width, gx + 1, gy + 1, gxy + 1, gxx + 1, lanes);
            }
            float* w = boxWeights + c * Taps;
            float bias = boxBias[c];
            long outAt = c * plane + (long)row * width;
            float* mx = meanX + outAt, my = meanY + outAt, cov = statsRow + c * statsStride, variance = statsRow + (Channels + c) * statsStride;
            int j0 = 0;
            if (lanes == 16)
                for (; j0 + 16 <= width; j0 += 16)
                {
                    var bx = Box512(Rows(0, 0), Rows(0, 1), Rows(0, 2), j0, w, bias);
                    var by = Box512(Rows(1, 0), Rows(1, 1), Rows(1, 2), j0, w, bias);
                    var bxy = Box512(Rows(2, 0), Rows(2, 1), Rows(2, 2), j0, w, bias);
                    var bxx = Box512(Rows(3, 0), Rows(3, 1), Rows(3, 2), j0, w, bias);
                    bx.Store(mx + j0);
                    by.Store(my + j0);
                    (bxy - bx * by).Store(cov + j0);
                    (bxx - bx * bx).Store(variance + j0);
                }
            if (lanes >= 8)
                for (; j0 + 8 <= width; j0 += 8)
                {
                    var bx = Box256(Rows(0, 0), Rows(0, 1), Rows(0, 2), j0, w, bias);
                    var by = Box256(Rows(1, 0), Rows(1, 1), Rows(1, 2), j0, w, bias);
                    var bxy = Box256(Rows(2, 0), Rows(2, 1), Rows(2, 2), j0, w, bias);
                    var bxx = Box256(Rows(3, 0), Rows(3, 1), Rows(3, 2), j0, w, bias);
                    bx.Store(mx + j0);
                    by.Store(my + j0);
                    (bxy - bx * by).Store(cov + j0);
                    (bxx - bx * bx).Store(variance + j0);
                }
            for (; j0 < width; j0++)
            {
                float bx = Box(Rows(0, 0), Rows(0, 1), Rows(0, 2), j0, w, bias);
                float by = Box(Rows(1, 0), Rows(1, 1), Rows(1, 2), j0, w, bias);
                float bxy = Box(Rows(2, 0), Rows(2, 1), Rows(2, 2), j0, w, bias);
                float bxx = Box(Rows(3, 0), Rows(3, 1), Rows(3, 2), j0, w, bias);
                mx[j0] = bx;
                my[j0] = by;
                float productXY = bx * by, productXX = bx * bx;
                cov[j0] = bxy - productXY;
                variance[j0] = bxx - productXX;
            }
        }
    }

    /// <summary>
    /// One input row of channel <paramref name="c"/>: the guide (X's channel, or for c = 3 the channel mean
    /// ((X₀ + X₁) + X₂) / 3), Y's channel, and the products guide·Y and guide·guide.
    /// </summary>
    private static void Prepare(float* x, long plane, int c, float* y, int width, float* gx, float* gy, float* gxy, float* gxx, int lanes)
    {
        int j = 0;
        if (lanes == 16)
        {
            var three = Vector512.Create(3f);
            for (; j + 16 <= width; j += 16)
            {
                var guide = c < 3 ? Vector512.Load(x + c * plane + j) : (Vector512.Load(x + j) + Vector512.Load(x + plane + j) + Vector512.Load(x + 2 * plane + j)) / three;
                var coarse = Vector512.Load(y + j);
                guide.Store(gx + j);
                coarse.Store(gy + j);
                (guide * coarse).Store(gxy + j);
                (guide * guide).Store(gxx + j);
            }
        }
        if (lanes >= 8)
        {
            var three = Vector256.Create(3f);
            for (; j + 8 <= width; j += 8)
            {
                var guide = c < 3 ? Vector256.Load(x + c * plane + j) : (Vector256.Load(x + j) + Vector256.Load(x + plane + j) + Vector256.Load(x + 2 * plane + j)) / three;
                var coarse = Vector256.Load(y + j);
                guide.Store(gx + j);
                coarse.Store(gy + j);
                (guide * coarse).Store(gxy + j);
                (guide * guide).Store(gxx + j);
            }
        }
        for (; j < width; j++)
        {
            float guide = c < 3 ? x[c * plane + j] : (x[j] + x[plane + j] + x[2 * plane + j]) / 3f;
            float coarse = y[j];
            gx[j] = guide;
            gy[j] = coarse;
            gxy[j] = guide * coarse;
            gxx[j] = guide * guide;
        }
    }

    /// <summary>One box value at output column j (padded rows: input column j − 1 + kw is at index j + kw).</summary>
    private static float Box(float* above, float* here, float* below, int j, float* w, float bias)
    {
        float acc = 0f;
        acc = MathF.FusedMultiplyAdd(above[j], w[0], acc);
        acc = MathF.FusedMultiplyAdd(above[j + 1], w[1], acc);
        acc = MathF.FusedMultiplyAdd(above[j + 2], w[2], acc);
        acc = MathF.FusedMultiplyAdd(here[j], w[3], acc);
        acc = MathF.FusedMultiplyAdd(here[j + 1], w[4], acc);
        acc = MathF.FusedMultiplyAdd(here[j + 2], w[5], acc);
        acc = MathF.FusedMultiplyAdd(below[j], w[6], acc);
        acc = MathF.FusedMultiplyAdd(below[j + 1], w[7], acc);
        acc = MathF.FusedMultiplyAdd(below[j + 2], w[8], acc);
        return acc + bias;
    }

    /// <summary><see cref="Box"/> for 16 columns.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Box512(float* above, float* here, float* below, int j, float* w, float bias)
    {
        var acc = Vector512<float>.Zero;
        acc = Vector512.FusedMultiplyAdd(Vector512.Load(above + j), Vector512.Create(w[0]), acc);
        acc = Vector512.FusedMultiplyAdd(Vector512.Load(above + j + 1), Vector512.Create(w[1]), acc);
        acc = Vector512.FusedMultiplyAdd(Vector512.Load(above + j + 2), Vector512.Create(w[2]), acc);
        acc = Vector512.FusedMultiplyAdd(Vector512.Load(here + j), Vector512.Create(w[3]), acc);
        acc = Vector512.FusedMultiplyAdd(Vector512.Load(here + j + 1), Vector512.Create(w[4]), acc);
        acc = Vector512.FusedMultiplyAdd(Vector512.Load(here + j + 2), Vector512.Create(w[5]), acc);
        acc = Vector512.FusedMultiplyAdd(Vector512.Load(below + j), Vector512.Create(w[6]), acc);
        acc = Vector512.FusedMultiplyAdd(Vector512.Load(below + j + 1), Vector512.Create(w[7]), acc);
        acc = Vector512.FusedMultiplyAdd(Vector512.Load(below + j + 2), Vector512.Create(w[8]), acc);
        return acc + Vector512.Create(bias);
    }

    /// <summary><see cref="Box"/> for 8 columns.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Box256(float* above, float* here, float* below, int j, float* w, float bias)
    {
        var acc = Vector256<float>.Zero;
        acc = Vector256.FusedMultiplyAdd(Vector256.Load(above + j), Vector256.Create(w[0]), acc);
        acc = Vector256.FusedMultiplyAdd(Vector256.Load(above + j + 1), Vector256.Create(w[1]), acc);
        acc = Vector256.FusedMultiplyAdd(Vector256.Load(above + j + 2), Vector256.Create(w[2]), acc);
        acc = Vector256.FusedMultiplyAdd(Vector256.Load(here + j), Vector256.Create(w[3]), acc);
        acc = Vector256.FusedMultiplyAdd(Vector256.Load(here + j + 1), Vector256.Create(w[4]), acc);
        acc = Vector256.FusedMultiplyAdd(Vector256.Load(here + j + 2), Vector256.Create(w[5]), acc);
        acc = Vector256.FusedMultiplyAdd(Vector256.Load(below + j), Vector256.Create(w[6]), acc);
        acc = Vector256.FusedMultiplyAdd(Vector256.Load(below + j + 1), Vector256.Create(w[7]), acc);
        acc = Vector256.FusedMultiplyAdd(Vector256.Load(below + j + 2), Vector256.Create(w[8]), acc);
        return acc + Vector256.Create(bias);
    }
}
