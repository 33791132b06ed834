using System.Diagnostics;
using BiVM.Benchmarking.Quick;
using BiVM.Benchmarks.Bdn;
using BiVM.CustomOps.BinaryConv2d;

namespace BiVM.Benchmarks.Quick;

/// <summary>
/// <see cref="MLNetBenchmarks"/>' four paths timed in one process, interleaved pass by pass so that all see the same
/// machine load, on the calling thread's CPU time as well as wall time (<see cref="Clock"/>: with one ONNX Runtime
/// thread the whole frame is computed on the calling thread, so on a shared host its CPU time estimates the
/// undisturbed cost, where wall time mostly measures the neighbours). Reports per frame the median and minimum of
/// each clock, the ratio of medians to the baseline (<see cref="MLNetBenchmarks.VideoMatterClip"/>), and the bytes
/// allocated. `dotnet run -c Release --project benchmarks -- --mlnet [--passes N]`.
/// </summary>
public static class MLNetQuick
{
    /// <summary>Runs <paramref name="passes"/> interleaved passes of each path and writes the table to <paramref name="output"/>.</summary>
    public static void Run(int passes, TextWriter output)
    {
        var bench = new MLNetBenchmarks { Threads = 1 };
        bench.Setup();
        try
        {
            var paths = new (string Name, Func<float> Run)[]
            {
                ("VideoMatter, new stream per clip", bench.VideoMatterClip),
                ("VideoMatter, one stream", bench.VideoMatterStream),
                ("ML.NET Transform pass", bench.TransformPass),
                ("ML.NET prediction engine", bench.EnginePredict),
            };
            var cpu = paths.Select(_ => new List<double>()).ToArray();
            var wall = paths.Select(_ => new List<double>()).ToArray();
            var allocated = new long[paths.Length];
            for (int pass = 0; pass < passes; pass++)
                for (int p = 0; p < paths.Length; p++)
                {
                    long bytes = GC.GetAllocatedBytesForCurrentThread();
                    double start = Clock.NowMilliseconds(threadCpu: true);
                    long ticks = Stopwatch.GetTimestamp();
                    paths[p].Run();
                    wall[p].Add(Stopwatch.GetElapsedTime(ticks).TotalMilliseconds / MLNetBenchmarks.Frames);
                    cpu[p].Add((Clock.NowMilliseconds(threadCpu: true) - start) / MLNetBenchmarks.Frames);
                    allocated[p] += GC.GetAllocatedBytesForCurrentThread() - bytes;
                }
            output.WriteLine($"{MLNetBenchmarks.Width}×{MLNetBenchmarks.Height}, {MLNetBenchmarks.Frames} frames per pass, {passes} passes, 1 ONNX Runtime thread, " +
                $"binary kernel {KernelSelector.SupportedNames[0]}; ms per frame" +
                (Clock.HasThreadCpuTime ? "" : " (no thread CPU clock here: the CPU columns are wall time)"));
            output.WriteLine($"{"path",-34} {"cpu median",10} {"cpu min",8} {"ratio",6} {"wall median",11} {"wall min",9} {"ratio",6} {"MB alloc",9}");
            for (int p = 0; p < paths.Length; p++)
                output.WriteLine($"{paths[p].Name,-34} {Median(cpu[p]),10:F1} {cpu[p].Min(),8:F1} {Median(cpu[p]) / Median(cpu[0]),6:F3} " +
                    $"{Median(wall[p]),11:F1} {wall[p].Min(),9:F1} {Median(wall[p]) / Median(wall[0]),6:F3} {allocated[p] / 1e6 / passes / MLNetBenchmarks.Frames,9:F2}");
        }
        finally
        {
            bench.Cleanup();
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        int m = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
    }
}
