using System.Diagnostics;

namespace BiVM.Benchmarks.Quick;

/// <summary>Median time of an action: warm up, then samples of several calls each (the machine is shared, so the median, not the mean).</summary>
public static class Timing
{
    public static double MedianMilliseconds(Action action, double budgetSeconds = 0.4)
    {
        var sw = Stopwatch.StartNew();
        int warm = 0;
        while (warm < 5 || sw.Elapsed.TotalMilliseconds < 50) { action(); warm++; }
        double single = sw.Elapsed.TotalMilliseconds / warm;
        int inner = Math.Max(1, (int)(5.0 / Math.Max(single, 1e-3)));
        int samples = Math.Clamp((int)(budgetSeconds * 1000 / (inner * single)), 7, 41);
        var times = new double[samples];
        for (int s = 0; s < samples; s++)
        {
            sw.Restart();
            for (int i = 0; i < inner; i++) action();
            times[s] = sw.Elapsed.TotalMilliseconds / inner;
        }
        Array.Sort(times);
        return times[samples / 2];
    }
}
