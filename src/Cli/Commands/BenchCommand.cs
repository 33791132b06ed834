using System.CommandLine;
using BiVM.Benchmarking.Quick;
using BiVM.CustomOps.BinaryConv2d;

namespace BiVM.Cli.Commands;

/// <summary>
/// <c>bivm bench --kernels</c>: the quick mode of benchmarks/ (same cases as the BenchmarkDotNet classes): the
/// ai.bivm binary convs through ONNX Runtime and raw, against ORT's FP32 Conv, the popcount peak, and the sparse
/// conv at a 10 % mask.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var kernels = new Option<bool>("--kernels") { Description = "Benchmark the binary conv kernels (the only suite so far; required)." };
        var threads = new Option<int?>("--threads") { Description = "Intra-op threads to measure (default: 1 and 2).", HelpName = "N" }.Require(t => t >= 1 && t <= CliOptions.MaxThreads, CliOptions.ThreadsRule(minimum: 1));
        var json = new Option<bool>("--json") { Description = "Print the results as JSON." };
        var kernel = new Option<string?>("--kernel") { Description = $"Force a popcount kernel: {string.Join(", ", KernelSelector.AllNames)} (default: best supported)." }
            .Require(k => KernelSelector.AllNames.Contains(k, StringComparer.OrdinalIgnoreCase), $"unknown kernel; known: {string.Join(", ", KernelSelector.AllNames)}")
            .Require(k => !KernelSelector.AllNames.Contains(k, StringComparer.OrdinalIgnoreCase) || KernelSelector.SupportedNames.Contains(k, StringComparer.OrdinalIgnoreCase), $"not supported on this CPU; supported: {string.Join(", ", KernelSelector.SupportedNames)}");
        var command = new Command("bench", "Benchmark the binary kernels against ONNX Runtime's FP32 Conv.");
        command.Options.Add(kernels);
        command.Options.Add(threads);
        command.Options.Add(json);
        command.Options.Add(kernel);
        command.Validators.Add(result =>
        {
            if (!result.GetValue(kernels)) result.AddError("choose a suite: --kernels");
        });
        CommandRunner.SetAction(command, (parse, cancel) =>
        {
            var report = QuickBench.Run(parse.GetValue(threads) is { } n ? [n] : [1, 2], parse.GetValue(kernel), parse.InvocationConfiguration.Error, cancel);
            parse.InvocationConfiguration.Output.Write(parse.GetValue(json) ? QuickBench.ToJson(report) : QuickBench.ToText(report));
            return ExitCodes.Ok;
        });
        return command;
    }
}
