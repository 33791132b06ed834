using System.Diagnostics;

namespace BiVM.Benchmarking.Quick;

/// <summary>
/// Times several actions interleaved sample by sample, so that all of them see the same machine load (these
/// machines are shared), and reports each one's fastest sample: interference only ever adds time, so the minimum
/// over samples of several calls is the most stable estimate of the undisturbed time, and ratios between actions
/// measured together stay meaningful.
/// </summary>
/// <remarks>
/// Multi-threaded actions are the exception (<see cref="BestMillisecondsSettled"/>): after a call returns, ONNX
/// Runtime's intra-op workers (and our <c>SpinningPool</c>'s) keep spinning, ONNX Runtime's for about 40 ms, so an
/// action timed right after another session's would share the CPUs with that session's spinning worker.
/// </remarks>
public static class Timing
{
    /// <summary>Rounds of <see cref="BestMillisecondsSettled"/>: each action's samples are split into this many blocks.</summary>
    public const int SettledRounds = 8;

    /// <summary>
    /// The pause before each block of <see cref="BestMillisecondsSettled"/>: longer than ONNX Runtime's workers spin
    /// after a run (about 40 ms, measured in <c>ModelBench</c>'s remarks).
    /// </summary>
    public static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Like <see cref="BestMilliseconds"/> for actions that run on several threads: the actions take turns in blocks
    /// of samples over <see cref="SettledRounds"/> rounds, each block after <see cref="Settle"/> of quiet and one
    /// untimed call (which wakes the action's own workers, as the node before it would in a model), so no action is
    /// timed beside another one's spinning workers. Wall time.
    /// </summary>
    public static double[] BestMillisecondsSettled(int samples, params Action[] actions)
    {
        var inner = InnerCalls(actions);
        var best = Enumerable.Repeat(double.MaxValue, actions.Length).ToArray();
        foreach (int block in Blocks(samples, SettledRounds))
            for (int a = 0; a < actions.Length; a++)
            {
                Thread.Sleep(Settle);
                actions[a]();
                for (int s = 0; s < block; s++)
                    best[a] = Math.Min(best[a], Sample(actions[a], inner[a], threadCpu: false));
            }
        return best;
    }

    /// <summary>
    /// <paramref name="total"/> samples (or frames) split into at most <paramref name="rounds"/> blocks as evenly as
    /// the counts allow, one block per round (fewer rounds when there are fewer samples).
    /// </summary>
    public static int[] Blocks(int total, int rounds)
    {
        rounds = Math.Min(rounds, total);
        return [.. Enumerable.Range(0, rounds).Select(r => total * (r + 1) / rounds - total * r / rounds)];
    }

    /// <param name="threadCpu">Measure the calling thread's CPU time instead of wall time (single-threaded work only).</param>
    public static double[] BestMilliseconds(int samples, bool threadCpu, params Action[] actions)
    {
        var inner = InnerCalls(actions);
        var best = Enumerable.Repeat(double.MaxValue, actions.Length).ToArray();
        for (int s = 0; s < samples; s++)
            for (int a = 0; a < actions.Length; a++)
                best[a] = Math.Min(best[a], Sample(actions[a], inner[a], threadCpu));
        return best;
    }

    /// <summary>Milliseconds per call over one sample of <paramref name="calls"/> calls.</summary>
    private static double Sample(Action action, int calls, bool threadCpu)
    {
        double start = Clock.NowMilliseconds(threadCpu);
        for (int i = 0; i < calls; i++) action();
        return (Clock.NowMilliseconds(threadCpu) - start) / calls;
    }

    /// <summary>Calls per sample for each action (about 4 ms of calls), after warming each one up.</summary>
    private static int[] InnerCalls(Action[] actions)
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
        return inner;
    }
}
