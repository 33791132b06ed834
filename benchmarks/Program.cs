using BenchmarkDotNet.Running;
using BiVM.Benchmarking.Quick;
using BiVM.Benchmarks.Bdn;
using BiVM.Benchmarks.Quick;

// `--quick [--threads N] [--json] [--kernel NAME]`: the short table (same as `bivm bench --kernels`);
// anything else goes to BenchmarkDotNet (e.g. `--filter '*LayerBenchmarks*'`).
if (args.Contains("--quick"))
{
    int threadsAt = Array.IndexOf(args, "--threads");
    int kernelAt = Array.IndexOf(args, "--kernel");
    int[] threads = threadsAt >= 0 ? [int.Parse(args[threadsAt + 1])] : [1, 2];
    var report = QuickBench.Run(threads, kernelAt >= 0 ? args[kernelAt + 1] : null, Console.Error);
    Console.Write(args.Contains("--json") ? QuickBench.ToJson(report) : QuickBench.ToText(report));
    return 0;
}
// `--mlnet [--passes N]`: the ML.NET path against VideoMatter on thread CPU time (MLNetQuick).
if (args.Contains("--mlnet"))
{
    int passesAt = Array.IndexOf(args, "--passes");
    MLNetQuick.Run(passesAt >= 0 ? int.Parse(args[passesAt + 1]) : 6, Console.Out);
    return 0;
}
BenchmarkSwitcher.FromAssembly(typeof(LayerBenchmarks).Assembly).Run(args);
return 0;
