using System.Diagnostics;

namespace BiVM.Benchmarking.Quick;

/// <summary>
/// Times several actions interleaved sample by sample, so that all of them see the same machine load (these
/// machines are shared), and reports each one's fastest sample: interference only ever adds time, so the minimum
/// over samples of several calls is the most stable estimate of the undisturbed time, and ratios between actions
/// measured together stay meaningful.
/// </summary>
public static class Timing
{
    /// <param name="threadCpu">Measure the calling thread's CPU time instead of wall time (single-threaded work only).</param>
    public static double[] BestMilliseconds(int samples, bool threadCpu, params Action[] actions)
    {
        var inner = new int[actions.Length];
        for (int a = 0; a < actions.Length; a++)
        {
            var sw = Stopwatch.StartNew();
            int warm = 0;
            while (warm < 3 || sw.Elapsed.TotalMilliseconds < 30) { actions[a](); warm++; }
            double single = sw.Elapsed.TotalMilliseconds / warm;
            inner[a] = Math.Max(1, (int)(4.0 / Math.Max(single, 1e-3))); // about 4 ms per sample
        }
        var best = Enumerable.Repeat(double.MaxValue, actions.Length).ToArray();
        for (int s = 0; s < samples; s++)
            for (int a = 0; a < actions.Length; a++)
            {
                double start = Clock.NowMilliseconds(threadCpu);
                for (int i = 0; i < inner[a]; i++) actions[a]();
                best[a] = Math.Min(best[a], (Clock.NowMilliseconds(threadCpu) - start) / inner[a]);
            }
        return best;
    }
}
