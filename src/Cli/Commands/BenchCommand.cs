using System.CommandLine;
using BiVM.Benchmarking.Quick;
using BiVM.Cli.Matting;
using BiVM.CustomOps.BinaryConv2d;

namespace BiVM.Cli.Commands;

/// <summary>
/// <c>bivm bench --kernels</c>: the quick mode of benchmarks/ (same cases as the BenchmarkDotNet classes): the
/// ai.bivm binary convs through ONNX Runtime and raw, against ORT's FP32 Conv, the popcount peak, and the sparse
/// conv at a 10 % mask. <c>bivm bench --matte FILE</c>: whole-file <c>bivm matte</c> speed against the model alone
/// (<see cref="MatteBenchmark"/>).
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var kernels = new Option<bool>("--kernels") { Description = "Benchmark the binary conv kernels." };
        var matte = new Option<string?>("--matte") { Description = "Benchmark bivm matte on this video: whole-file fps against model-only fps, alternately.", HelpName = "FILE" };
        var downsample = CliOptions.Downsample("--matte: downsample ratio in (0, 1]. Default: min(512 / max(H, W), 1).");
        var frames = new Option<int>("--frames") { Description = "--matte: frames per measurement.", HelpName = "N", DefaultValueFactory = _ => 200 }.Require(n => n >= 1, "must be at least 1");
        var rounds = new Option<int>("--rounds") { Description = "--matte: alternating rounds of model-only and whole-file runs.", HelpName = "K", DefaultValueFactory = _ => 3 }.Require(n => n >= 1, "must be at least 1");
        var model = CliOptions.Model("--matte: ONNX model file. Default: the model shipped with bivm.");
        var threads = new Option<int?>("--threads") { Description = "Intra-op threads to measure (default: 1 and 2).", HelpName = "N" }.Require(t => t >= 1 && t <= CliOptions.MaxThreads, CliOptions.ThreadsRule(minimum: 1));
        var json = new Option<bool>("--json") { Description = "Print the results as JSON." };
        var kernel = new Option<string?>("--kernel") { Description = $"Force a popcount kernel: {string.Join(", ", KernelSelector.AllNames)} (default: best supported)." }
            .Require(k => KernelSelector.AllNames.Contains(k, StringComparer.OrdinalIgnoreCase), $"unknown kernel; known: {string.Join(", ", KernelSelector.AllNames)}")
            .Require(k => !KernelSelector.AllNames.Contains(k, StringComparer.OrdinalIgnoreCase) || KernelSelector.SupportedNames.Contains(k, StringComparer.OrdinalIgnoreCase), $"not supported on this CPU; supported: {string.Join(", ", KernelSelector.SupportedNames)}");
        var command = new Command("bench", "Benchmark the binary kernels against ONNX Runtime's FP32 Conv, or bivm matte's whole-file speed against the model's.");
        command.Options.Add(kernels);
        command.Options.Add(threads);
        command.Options.Add(json);
        command.Options.Add(kernel);
        foreach (var option in new Option[] { matte, downsample, frames, rounds, model }) command.Options.Add(option);
        command.Validators.Add(result =>
        {
            if (result.GetValue(kernels) == (result.GetValue(matte) is not null)) result.AddError("choose one suite: --kernels or --matte FILE");
        });
        CommandRunner.SetAction(command, (parse, cancel) =>
        {
            if (parse.GetValue(matte) is { } video)
            {
                var results = MatteBenchmark.Run(video, parse.GetValue(downsample), parse.GetValue(threads) ?? 0, parse.GetValue(frames), parse.GetValue(rounds),
                    parse.GetValue(model), parse.InvocationConfiguration.Output, cancel);
                parse.InvocationConfiguration.Output.WriteLine(MatteBenchmark.Summary(results));
                return ExitCodes.Ok;
            }
            var report = QuickBench.Run(parse.GetValue(threads) is { } n ? [n] : [1, 2], parse.GetValue(kernel), parse.InvocationConfiguration.Error, cancel);
            parse.InvocationConfiguration.Output.Write(parse.GetValue(json) ? QuickBench.ToJson(report) : QuickBench.ToText(report));
            return ExitCodes.Ok;
        });
        return command;
    }
}
