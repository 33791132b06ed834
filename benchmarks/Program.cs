using BenchmarkDotNet.Running;
using BiVM.Benchmarking.Models;
using BiVM.Benchmarking.Quick;
using BiVM.Benchmarks.Bdn;
using BiVM.Benchmarks.Quick;

// `--quick [--threads N] [--json] [--kernel NAME]`: the short table (same as `bivm bench --kernels`);
// `--dry`: CI's dry mode, every shipped model once, small, on one thread (same as `bivm bench --models --dry`);
// `--long-run N [--only videomatter|mlnet]`: N frames through VideoMatter and ML.NET with memory samples (LongRun.cs);
// anything else goes to BenchmarkDotNet (e.g. `--filter '*LayerBenchmarks*'`, or `--filter '*' --job dry`).
if (args.Contains("--quick"))
{
    int threadsAt = Array.IndexOf(args, "--threads");
    int kernelAt = Array.IndexOf(args, "--kernel");
    int[] threads = threadsAt >= 0 ? [int.Parse(args[threadsAt + 1])] : [1, 2];
    var report = QuickBench.Run(threads, kernelAt >= 0 ? args[kernelAt + 1] : null, Console.Error);
    Console.Write(args.Contains("--json") ? QuickBench.ToJson(report) : QuickBench.ToText(report));
    return 0;
}
if (args.Contains("--dry"))
{
    string folder = ModelCase.FindModelsFolder() ?? throw new DirectoryNotFoundException("no models/ folder above the current directory");
    var report = ModelBench.Run(ModelCase.Shipped(folder), ModelBenchOptions.Dry, Console.Error);
    Console.Write(ModelReportWriter.ToText(report));
    return report.Results.Count == ModelCase.Names.Count ? 0 : 1;
}
// `--mlnet [--passes N]`: the ML.NET path against VideoMatter on thread CPU time (MLNetQuick).
if (args.Contains("--mlnet"))
{
    int passesAt = Array.IndexOf(args, "--passes");
    MLNetQuick.Run(passesAt >= 0 ? int.Parse(args[passesAt + 1]) : 6, Console.Out);
    return 0;
}
// `--glue [--samples N]`: InstanceNormalization + ShortcutRPReLU against the folded op, interleaved (GlueQuick).
if (args.Contains("--glue"))
{
    int samplesAt = Array.IndexOf(args, "--samples");
    GlueQuick.Run(samplesAt >= 0 ? int.Parse(args[samplesAt + 1], System.Globalization.CultureInfo.InvariantCulture) : 15, Console.Out);
    return 0;
}
int longRunAt = Array.IndexOf(args, "--long-run");
int onlyAt = Array.IndexOf(args, "--only");
if (longRunAt >= 0) return BiVM.Benchmarks.LongRun.Run(int.Parse(args[longRunAt + 1], System.Globalization.CultureInfo.InvariantCulture), onlyAt >= 0 ? args[onlyAt + 1] : null);
BenchmarkSwitcher.FromAssembly(typeof(LayerBenchmarks).Assembly).Run(args);
return 0;
