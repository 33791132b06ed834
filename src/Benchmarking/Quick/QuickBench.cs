using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using BiVM.Benchmarking.Cases;
using BiVM.Benchmarking.Popcount;
using BiVM.CustomOps.BinaryConv2d;

namespace BiVM.Benchmarking.Quick;

/// <summary>
/// The quick mode behind <c>bivm bench --kernels</c> and <c>dotnet run -c Release --project benchmarks -- --quick</c>:
/// the same cases as the BenchmarkDotNet classes, timed with a median over short samples (about a minute in all).
/// </summary>
public static class QuickBench
{
    /// <summary>Samples per measurement (each sample ≈ 4 ms of calls).</summary>
    public const int Samples = 80;

    /// <summary>Runs every case; <paramref name="cancel"/> is checked between measurements (each a few seconds at most).</summary>
    public static BenchReport Run(IReadOnlyList<int> threadCounts, string? kernel = null, TextWriter? progress = null, CancellationToken cancel = default)
    {
        var peaks = new List<PeakRow>();
        foreach (var method in PopcountPeak.Supported)
            foreach (int t in threadCounts)
            {
                cancel.ThrowIfCancellationRequested();
                progress?.WriteLine($"popcount peak: {method.Name}, {t} thread(s)");
                // The best of many short runs, as the layers below are the fastest of many samples: on a VM whose
                // neighbours take the core now and then, 8 runs of 30 ms rarely held one quiet run and put the
                // "peak" below what a layer's count stage then reached.
                peaks.Add(new PeakRow(method.Name, t, Enumerable.Range(0, 32).Max(_ => PopcountPeak.Measure(method, t, 0.008, threadCpu: t == 1))));
            }

        // Every kernel this CPU runs (or the forced one) is timed in the same interleaved samples as ORT's FP32 Conv,
        // so the kernels' ratios to each other and to FP32 come from one run under one load; on more than one thread in
        // alternating blocks after a pause instead (Timing.BestMillisecondsSettled: idle workers spin after a run).
        IReadOnlyList<string> kernels = string.IsNullOrEmpty(kernel) ? KernelSelector.SupportedNames : [kernel];
        var layers = new List<LayerRow>();
        var sparse = new List<SparseRow>();
        foreach (var layer in LayerCase.All)
            foreach (int t in threadCounts)
            {
                cancel.ThrowIfCancellationRequested();
                progress?.WriteLine($"layer {layer.Name}, {t} thread(s), kernels {string.Join(", ", kernels)}");
                var fixtures = kernels.Select(k => new LayerFixture(layer, t, k)).ToList();
                try
                {
                    var f = fixtures[0];
                    bool withSparse = layer.MaskScale is not null;
                    // Per kernel: op through ORT, raw, and the raw conv's count stage alone; once: ORT FP32 and the pack stage.
                    var actions = new List<Action> { f.RunFp32, f.RunRawPack };
                    foreach (var k in fixtures) actions.AddRange([k.RunCustom, k.RunRaw, k.RunRawCount]);
                    if (withSparse) actions.AddRange([f.RunSparse, f.RunRawSparse, f.RunOutputClear, f.RunFolded, f.RunFoldedIdle, f.RunFoldedPacked, f.RunFoldedPackedIdle]);
                    var ms = t == 1 ? Timing.BestMilliseconds(Samples, Clock.HasThreadCpuTime, [.. actions]) : Timing.BestMillisecondsSettled(Samples, [.. actions]);
                    double best = peaks.Where(p => p.Threads == t).Max(p => p.GbitPerSecond);
                    for (int i = 0; i < fixtures.Count; i++)
                    {
                        double op = ms[2 + 3 * i], raw = ms[3 + 3 * i], count = ms[4 + 3 * i];
                        double gbit = layer.Macs / (op / 1000) / 1e9;
                        double? same = peaks.FirstOrDefault(p => p.Threads == t && p.Method == PopcountPeak.MethodOf(fixtures[i].KernelName))?.GbitPerSecond;
                        layers.Add(new LayerRow(layer.Name, t, fixtures[i].KernelName, layer.Macs / 1e6, ms[0], op, raw, ms[0] / op, gbit, gbit / best, gbit / same, ms[1], count));
                    }
                    if (withSparse) sparse.Add(new SparseRow(layer.Name, t, f.KernelName, f.MaskScale, f.ActiveFraction, ms[2], ms[^7], ms[3], ms[^6], ms[^5], ms[^4], ms[^3], ms[^2], ms[^1]));
                }
                finally
                {
                    fixtures.ForEach(x => x.Dispose());
                }
            }
        var scaling = new List<ScalingRow>();
        if (threadCounts.Contains(1) && threadCounts.Max() > 1)
        {
            int n = threadCounts.Max();
            foreach (var layer in LayerCase.All)
            {
                progress?.WriteLine($"scaling {layer.Name}: 1 and {n} threads in alternating blocks, wall time");
                using var one = new LayerFixture(layer, 1, kernels[0]);
                using var many = new LayerFixture(layer, n, kernels[0]);
                var ms = Timing.BestMillisecondsSettled(Samples, one.RunCustom, many.RunCustom, one.RunRaw, many.RunRaw, one.RunFp32, many.RunFp32);
                scaling.Add(new ScalingRow(layer.Name, one.KernelName, n, ms[0], ms[1], ms[2], ms[3], ms[4], ms[5]));
            }
        }
        return new BenchReport(Machine(), ClockNote, KernelSelector.SupportedNames, peaks, layers, sparse, scaling);
    }

    public static string Machine()
    {
        string cpu = "unknown CPU";
        try
        {
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return $"{cpu}, {Environment.ProcessorCount} logical cores, {RuntimeInformation.FrameworkDescription}, " +
               $"ONNX Runtime {Microsoft.ML.OnnxRuntime.OrtEnv.Instance().GetVersionString()}";
    }

    /// <summary>Which clock the numbers use (see <see cref="Clock"/>).</summary>
    public static string ClockNote => Clock.HasThreadCpuTime
        ? "1 thread: CPU time of the calling thread; 2 threads: wall time"
        : "wall time";

    public static string ToJson(BenchReport report) =>
        JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + Environment.NewLine;

    /// <summary>Markdown tables (the same ones docs/kernels.md quotes).</summary>
    public static string ToText(BenchReport report)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine($"machine: {report.Machine}");
        sb.AppendLine($"kernels supported here: {string.Join(", ", report.SupportedKernels)}");
        sb.AppendLine();
        sb.AppendLine("XOR+popcount peak over L1-resident data (best of 32 runs of 8 ms; " + ClockNote + "):");
        sb.AppendLine();
        sb.AppendLine("| method | threads | Gbit/s |");
        sb.AppendLine("|---|---:|---:|");
        foreach (var p in report.Peaks) sb.AppendLine(string.Format(c, "| {0} | {1} | {2:F0} |", p.Method, p.Threads, p.GbitPerSecond));
        sb.AppendLine();
        sb.AppendLine("Layers (batch 1; ms = fastest of " + Samples + " interleaved samples (more than 1 thread: in alternating blocks, each after " + Timing.Settle.TotalMilliseconds + " ms of quiet), every kernel in the same run, " + ClockNote + "; op = ai.bivm BinaryConv2d through ORT, raw = kernel without ORT; raw pack and raw count: those stages alone, rest = raw − pack − count: gather, zero-padding correction, output transform, and the stages' interference):");
        sb.AppendLine();
        sb.AppendLine("| layer | threads | kernel | M MACs | ORT FP32 ms | op ms | raw ms | speed-up vs FP32 | binary Gbit/s | % of peak | % of method peak | raw pack ms | raw count ms | raw rest ms |");
        sb.AppendLine("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var l in report.Layers)
            sb.AppendLine(string.Format(c, "| {0} | {1} | {2} | {3:F1} | {4:F3} | {5:F3} | {6:F3} | {7:F1}× | {8:F0} | {9:P0} | {10} | {11:F3} | {12:F3} | {13:F3} |",
                l.Layer, l.Threads, l.Kernel, l.MegaMacs, l.OrtFp32Ms, l.OpMs, l.RawMs, l.SpeedUp, l.BinaryGbitPerSecond, l.FractionOfPeak, l.FractionOfMethodPeak is { } f ? f.ToString("P0", c) : "n/a",
                l.RawPackMs, l.RawCountMs, l.RawMs - l.RawPackMs - l.RawCountMs));
        sb.AppendLine();
        if (report.Scaling.Count > 0)
        {
            sb.AppendLine("Thread scaling (1 and N threads in alternating blocks of samples, each after " + Timing.Settle.TotalMilliseconds + " ms of quiet, all wall time; ORT's FP32 Conv is the control for what the machine allowed):");
            sb.AppendLine();
            sb.AppendLine("| layer | kernel | N | op ms 1T | op ms NT | op scaling | raw scaling | ORT FP32 scaling |");
            sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|");
            foreach (var r in report.Scaling)
                sb.AppendLine(string.Format(c, "| {0} | {1} | {2} | {3:F3} | {4:F3} | {5:F2}× | {6:F2}× | {7:F2}× |",
                    r.Layer, r.Kernel, r.Threads, r.OpMs1, r.OpMsN, r.OpScaling, r.RawScaling, r.Fp32Scaling));
            sb.AppendLine();
        }
        sb.AppendLine("SparseBinaryConv2d vs BinaryConv2d (same layer, random cells of mask_scale² pixels):");
        sb.AppendLine();
        sb.AppendLine("| layer | threads | kernel | mask_scale | active | dense op ms | sparse op ms | sparse/dense | raw dense ms | raw sparse ms | raw sparse/dense | output write ms | write/raw dense | glue + folded sparse ms | same glue, no cell ms | folded sparse/raw dense | folded, input packed/raw dense |");
        sb.AppendLine("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var s in report.Sparse)
            sb.AppendLine(string.Format(c, "| {0} | {1} | {2} | {15} | {3:P0} | {4:F3} | {5:F3} | {6:P0} | {7:F3} | {8:F3} | {9:P0} | {10:F3} | {11:P0} | {12:F3} | {13:F3} | {14:P0} | {16:P0} |",
                s.Layer, s.Threads, s.Kernel, s.ActiveFraction, s.DenseOpMs, s.SparseOpMs, s.OpRatio, s.RawDenseMs, s.RawSparseMs, s.RawRatio, s.OutputWriteMs, s.WriteRatio,
                s.FoldedMs, s.FoldedIdleMs, s.FoldedRatio, s.MaskScale, s.FoldedPackedRatio));
        sb.AppendLine();
        sb.AppendLine("output write: the whole output tensor cleared once on the same runner, the least a sparse conv node costs (it writes zeros where the mask is off); write/raw dense is the sparse/dense ratio no such node can go below.");
        sb.AppendLine("folded: the conv folded into the glue that adds it (ShortcutRPReLU with SparseX …, as the shipped model runs SHB), whose rows it computes where the glue adds them, so nothing is written for it; folded sparse = that glue at the mask less the same glue with no cell active; input packed: the same with the conv's input handed over packed (SparseXPacked), as the shipped model does (the producer's packing not counted).");
        return sb.ToString();
    }
}
