namespace BiVM.Data.Metrics;

/// <summary>
/// Temporal coherence (RVM evaluate_lr.py MetricDTSSD):
/// dtSSD_t = sqrt(Σ((p_t − p_{t−1}) − (g_t − g_{t−1}))² / N)·100, N = pixels per frame; frame 0 scores 0.
/// </summary>
public static class DtSsd
{
    public const double Scale = 1e2;

    public static double Compute(ReadOnlySpan<float> pred, ReadOnlySpan<float> predPrevious, ReadOnlySpan<float> truth, ReadOnlySpan<float> truthPrevious)
    {
        FrameCheck.SameLength(pred, truth, "dtSSD");
        FrameCheck.SameLength(predPrevious, truth, "dtSSD (previous prediction)");
        FrameCheck.SameLength(truthPrevious, truth, "dtSSD (previous ground truth)");
        if (pred.Length == 0) return double.NaN;
        double sum = 0;
        for (int i = 0; i < pred.Length; i++)
        {
            double d = ((double)pred[i] - predPrevious[i]) - ((double)truth[i] - truthPrevious[i]);
            sum += d * d;
        }
        return Math.Sqrt(sum / pred.Length) * Scale;
    }
}
