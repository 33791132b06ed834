using BiVM.Data.IO;
using BiVM.Data.Synthesis;

namespace BiVM.Data.Metrics;

/// <summary>Per-frame values of every RVM LR metric for one predicted clip (evaluate_lr.py's evaluate_worker).</summary>
public static class ClipScores
{
    /// <param name="predPha">[T,1,H,W] predicted alpha.</param>
    /// <param name="predFgr">[T,3,H,W] predicted foreground, or null to skip the fgr metrics.</param>
    /// <param name="eightBit">
    /// Score round(255·x)/255 of both prediction and truth, as RVM does by reading 8-bit PNGs
    /// (the default, for numbers comparable with RVM's and the paper's); false scores the floats.
    /// </param>
    public static IReadOnlyList<(string Metric, double[] PerFrame)> Compute(Clip truth, float[] predPha, float[]? predFgr = null, bool eightBit = true)
    {
        if (eightBit)
        {
            var quantized = Quantized(truth);
            return Compute(quantized, Quantized(predPha), predFgr is null ? null : Quantized(predFgr), eightBit: false);
        }

        int T = truth.Frames, W = truth.Width, H = truth.Height, n = truth.PixelsPerFrame;
        if (predPha.Length != truth.Pha.Length)
            throw new ArgumentException($"Predicted alpha has {predPha.Length} values; the clip ({truth.Description}) is [T={T},1,H={H},W={W}] = {truth.Pha.Length}.", nameof(predPha));
        bool fgr = predFgr is not null && truth.Fgr is not null;
        if (fgr && predFgr!.Length != truth.Fgr!.Length)
            throw new ArgumentException($"Predicted foreground has {predFgr.Length} values; the clip is [T={T},3,H={H},W={W}] = {truth.Fgr.Length}.", nameof(predFgr));

        var mad = new double[T];
        var mse = new double[T];
        var grad = new double[T];
        var conn = new double[T];
        var dtssd = new double[T];
        var fgrMad = new double[T];
        var fgrMse = new double[T];
        for (int t = 0; t < T; t++)
        {
            var p = predPha.AsSpan(t * n, n);
            var g = truth.Pha.AsSpan(t * n, n);
            mad[t] = Mad.Compute(p, g);
            mse[t] = Mse.Compute(p, g);
            grad[t] = Grad.Compute(p, g, W, H, normalize: true);
            conn[t] = Conn.Compute(p, g, W, H);
            dtssd[t] = t == 0 ? 0 : DtSsd.Compute(p, predPha.AsSpan((t - 1) * n, n), g, truth.Pha.AsSpan((t - 1) * n, n));
            if (fgr) (fgrMad[t], fgrMse[t]) = ForegroundError.Compute(predFgr.AsSpan(t * 3 * n, 3 * n), truth.Fgr.AsSpan(t * 3 * n, 3 * n), g);
        }
        var result = new List<(string, double[])>
        {
            ("pha_mad", mad), ("pha_mse", mse), ("pha_grad", grad), ("pha_conn", conn), ("pha_dtssd", dtssd),
        };
        if (fgr)
        {
            result.Add(("fgr_mad", fgrMad));
            result.Add(("fgr_mse", fgrMse));
        }
        return result;
    }

    private static Clip Quantized(Clip clip) =>
        new(clip.Frames, clip.Height, clip.Width, Quantized(clip.Src), Quantized(clip.Pha),
            clip.Fgr is null ? null : Quantized(clip.Fgr), clip.Bgr is null ? null : Quantized(clip.Bgr), clip.Description);

    private static float[] Quantized(float[] values)
    {
        var result = GC.AllocateUninitializedArray<float>(values.Length);
        for (int i = 0; i < values.Length; i++) result[i] = ClipFolder.Quantize(values[i]) / 255f;
        return result;
    }
}
