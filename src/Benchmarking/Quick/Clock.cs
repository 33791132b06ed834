using System.Diagnostics;
using System.Runtime.InteropServices;

namespace BiVM.Benchmarking.Quick;

/// <summary>
/// Wall time, or the calling thread's CPU time (Linux CLOCK_THREAD_CPUTIME_ID). On a shared, oversubscribed machine
/// wall time mostly measures the neighbours; thread CPU time counts only the cycles this thread ran, so it estimates
/// the undisturbed time of single-threaded work (ORT with one intra-op thread computes on the calling thread).
/// It cannot describe multi-threaded runs: those use wall time.
/// </summary>
public static partial class Clock
{
    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    private const int ClockThreadCpuTime = 3;

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    /// <summary>True where thread CPU time can be read (Linux).</summary>
    public static bool HasThreadCpuTime { get; } = OperatingSystem.IsLinux() && Probe();

    private static bool Probe()
    {
        try { return ClockGetTime(ClockThreadCpuTime, out _) == 0; }
        catch (DllNotFoundException) { return false; }
        catch (EntryPointNotFoundException) { return false; }
    }

    /// <summary>Milliseconds on the chosen clock (arbitrary origin; take differences).</summary>
    public static double NowMilliseconds(bool threadCpu)
    {
        if (threadCpu && HasThreadCpuTime && ClockGetTime(ClockThreadCpuTime, out var t) == 0)
            return t.Seconds * 1e3 + t.Nanoseconds / 1e6;
        return Stopwatch.GetTimestamp() * 1e3 / Stopwatch.Frequency;
    }
}
