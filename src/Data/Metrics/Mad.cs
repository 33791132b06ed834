namespace BiVM.Data.Metrics;

/// <summary>Mean absolute difference ×1e3 (RVM evaluate_lr.py MetricMAD): mean|p − g|·1000.</summary>
public static class Mad
{
    public const double Scale = 1e3;

    public static double Compute(ReadOnlySpan<float> pred, ReadOnlySpan<float> truth)
    {
        FrameCheck.SameLength(pred, truth, "MAD");
        if (pred.Length == 0) return double.NaN; // numpy's mean of an empty selection
        double sum = 0;
        for (int i = 0; i < pred.Length; i++) sum += Math.Abs((double)pred[i] - truth[i]);
        return sum / pred.Length * Scale;
    }
}
