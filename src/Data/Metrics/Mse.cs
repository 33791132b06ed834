namespace BiVM.Data.Metrics;

/// <summary>Mean squared difference ×1e3 (RVM evaluate_lr.py MetricMSE): mean((p − g)²)·1000.</summary>
public static class Mse
{
    public const double Scale = 1e3;

    public static double Compute(ReadOnlySpan<float> pred, ReadOnlySpan<float> truth)
    {
        FrameCheck.SameLength(pred, truth, "MSE");
        if (pred.Length == 0) return double.NaN;
        double sum = 0;
        for (int i = 0; i < pred.Length; i++)
        {
            double d = (double)pred[i] - truth[i];
            sum += d * d;
        }
        return sum / pred.Length * Scale;
    }
}
