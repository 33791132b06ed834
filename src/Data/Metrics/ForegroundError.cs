namespace BiVM.Data.Metrics;

/// <summary>
/// Foreground MAD and MSE on pixels where the true alpha is &gt; 0 (RVM evaluate_lr.py:
/// mad/mse(pred_fgr[true_pha &gt; 0], true_fgr[true_pha &gt; 0])), i.e. the mean over the three
/// channels of those pixels, ×1e3. NaN when no pixel has alpha &gt; 0.
/// </summary>
public static class ForegroundError
{
    /// <param name="predFgr">Planar RGB of one frame, 3·H·W values.</param>
    /// <param name="trueFgr">Planar RGB of one frame, 3·H·W values.</param>
    /// <param name="trueAlpha">H·W values.</param>
    public static (double Mad, double Mse) Compute(ReadOnlySpan<float> predFgr, ReadOnlySpan<float> trueFgr, ReadOnlySpan<float> trueAlpha)
    {
        FrameCheck.SameLength(predFgr, trueFgr, "fgr MAD/MSE");
        int n = trueAlpha.Length;
        if (trueFgr.Length != 3 * n)
            throw new ArgumentException($"fgr MAD/MSE: foreground has {trueFgr.Length} values, 3 planes of the alpha's {n} pixels need {3 * n}.");
        double abs = 0, sq = 0;
        long count = 0;
        for (int i = 0; i < n; i++)
        {
            if (!(trueAlpha[i] > 0)) continue;
            for (int c = 0; c < 3; c++)
            {
                double d = (double)predFgr[c * n + i] - trueFgr[c * n + i];
                abs += Math.Abs(d);
                sq += d * d;
            }
            count += 3;
        }
        if (count == 0) return (double.NaN, double.NaN);
        return (abs / count * Mad.Scale, sq / count * Mse.Scale);
    }
}
