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
        var threads = new Option<int?>("--threads") { Description = "Intra-op threads to measure (default: 1 and 2)." };
        var json = new Option<bool>("--json") { Description = "Print the results as JSON." };
        var kernel = new Option<string?>("--kernel") { Description = $"Force a popcount kernel: {string.Join(", ", KernelSelector.AllNames)} (default: best supported)." };
        var command = new Command("bench", "Benchmark the binary kernels against ONNX Runtime's FP32 Conv.");
        command.Options.Add(kernels);
        command.Options.Add(threads);
        command.Options.Add(json);
        command.Options.Add(kernel);
        command.SetAction(parse =>
        {
            var error = parse.InvocationConfiguration.Error;
            if (!parse.GetValue(kernels))
            {
                error.WriteLine("bivm bench: choose a suite: --kernels");
                return 2;
            }
            int? t = parse.GetValue(threads);
            if (t is < 1 or > 256)
            {
                error.WriteLine($"bivm bench: --threads must be between 1 and 256, got {t}");
                return 2;
            }
            string? forced = parse.GetValue(kernel);
            if (forced is not null)
            {
                if (!KernelSelector.AllNames.Contains(forced, StringComparer.OrdinalIgnoreCase))
                {
                    error.WriteLine($"bivm bench: unknown kernel '{forced}'; known: {string.Join(", ", KernelSelector.AllNames)}");
                    return 2;
                }
                if (!KernelSelector.SupportedNames.Contains(forced, StringComparer.OrdinalIgnoreCase))
                {
                    error.WriteLine($"bivm bench: kernel '{forced}' is not supported on this CPU; supported: {string.Join(", ", KernelSelector.SupportedNames)}");
                    return 2;
                }
            }
            var report = QuickBench.Run(t is { } n ? [n] : [1, 2], forced, error);
            parse.InvocationConfiguration.Output.Write(parse.GetValue(json) ? QuickBench.ToJson(report) : QuickBench.ToText(report));
            return 0;
        });
        return command;
    }
}
