using System.CommandLine;
using BiVM.Benchmarking.Models;
using BiVM.Benchmarking.Quick;
using BiVM.Cli.Matting;
using BiVM.Contracts;
using BiVM.CustomOps.BinaryConv2d;

namespace BiVM.Cli.Commands;

/// <summary>
/// <c>bivm bench</c>, three suites. <c>--kernels</c>: the quick mode of benchmarks/ (same cases as the BenchmarkDotNet
/// classes): the ai.bivm binary convs through ONNX Runtime and raw, against ORT's FP32 Conv, the popcount peak, and
/// the sparse conv at a 10 % mask. <c>--models</c>: the shipped models per frame (rvm, rvm-react, bivm, and bivm
/// lowered to standard ops), recurrent state carried, with an optional ONNX Runtime profile per op type (the chart
/// is drawn from its JSON by benchmarks/Chart: ScottPlot's SkiaSharp 3 cannot share a process with ML.NET's 2.88).
/// <c>--matte FILE</c>: whole-file <c>bivm matte</c> speed against the model alone (<see cref="MatteBenchmark"/>).
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var kernels = new Option<bool>("--kernels") { Description = "Benchmark the binary conv kernels against ONNX Runtime's FP32 Conv." };
        var models = new Option<bool>("--models") { Description = "Benchmark the shipped models per frame: rvm, rvm-react, bivm, bivm-lowered (bivm in standard ops), bivm-pipelined (bivm as a pipeline of stages, one thread each), rvm-pipelined (RVM as the same pipeline)." };
        var matte = new Option<string?>("--matte") { Description = "Benchmark bivm matte on this video: whole-file fps against model-only fps, alternately.", HelpName = "FILE" };
        var threads = new Option<int?>("--threads") { Description = "Intra-op threads to measure (default: 1 and 2); --matte: the whole-file run's threads (default: as bivm matte chooses; the model alone is measured at 1 thread, at one per physical core and at that count, and the fastest counts).", HelpName = "N" }.Require(t => t >= 1 && t <= CliOptions.MaxThreads, CliOptions.ThreadsRule(minimum: 1));
        var json = new Option<bool>("--json") { Description = "Print the results as JSON." };
        var kernel = new Option<string?>("--kernel") { Description = $"--kernels: force a popcount kernel: {string.Join(", ", KernelSelector.AllNames)} (default: best supported)." }
            .Require(k => KernelSelector.AllNames.Contains(k, StringComparer.OrdinalIgnoreCase), $"unknown kernel; known: {string.Join(", ", KernelSelector.AllNames)}")
            .Require(k => !KernelSelector.AllNames.Contains(k, StringComparer.OrdinalIgnoreCase) || KernelSelector.SupportedNames.Contains(k, StringComparer.OrdinalIgnoreCase), $"not supported on this CPU; supported: {string.Join(", ", KernelSelector.SupportedNames)}");
        var size = CliOptions.Size("--models: one frame size instead of the defaults 512x288, 512x512 and 1920x1080 (at downsample 0.25).", new FrameSize(512, 288), minimum: 16);
        var downsample = CliOptions.Downsample("--models, --matte: the network's downsample ratio (--models default: 1 for 512x288 and 512x512, 0.25 for 1920x1080, min(512 / long side, 1) for --size; --matte default: min(512 / max(H, W), 1)).");
        var frames = new Option<int?>("--frames") { Description = "--models: timed frames per model after 3 warm-up frames, the median is reported (default 9); --matte: frames per measurement (default 200).", HelpName = "N" }.Require(n => n is >= 1 and <= 10000, "must be between 1 and 10000");
        var profile = new Option<bool>("--profile") { Description = "--models: also print where the time goes per ONNX op type (ONNX Runtime's profile)." };
        var modelDir = new Option<string?>("--model-dir") { Description = "--models: the folder holding rvm.onnx, rvm-react.onnx and bivm.onnx (default: the repository's models/).", HelpName = "DIR" };
        var video = new Option<string?>("--video") { Description = $"--models: time the models on this video's first {BenchVideoFrames.MaxFrames} frames in turn, scaled to each size, instead of the test card (BiVM's SHB mask, and so its time, follows the picture).", HelpName = "FILE" };
        var dry = new Option<bool>("--dry") { Description = "--models: CI's dry mode: each model once at 128x72, 1 thread, 1 warm-up and 1 timed frame (proves it runs; the numbers mean nothing)." };
        var rounds = new Option<int>("--rounds") { Description = "--matte: alternating rounds of model-only and whole-file runs.", HelpName = "K", DefaultValueFactory = _ => 3 }.Require(n => n >= 1, "must be at least 1");
        var model = CliOptions.Model("--matte: ONNX model file. Default: the model shipped with bivm.");
        var pipeline = new Option<bool>("--pipeline") { Description = "--matte: run the network as a pipeline of its stages, as bivm matte --pipeline, both in the whole-file runs and alone." };
        var preset = new Option<string?>("--preset") { Description = $"--matte: x264 preset of the whole-file runs' .mp4, as bivm matte --preset (default {H264Settings.DefaultPreset}).", HelpName = "PRESET" };
        preset.AcceptOnlyFromAmong(H264Settings.Presets);
        var command = new Command("bench", "Benchmark the binary kernels (--kernels), the shipped models per frame (--models), or bivm matte's whole-file speed against the model's (--matte FILE).");
        foreach (var o in new Option[] { kernels, models, matte, threads, json, kernel, size, downsample, frames, profile, modelDir, video, dry, rounds, model, preset, pipeline }) command.Options.Add(o);
        command.Validators.Add(result =>
        {
            bool k = result.GetValue(kernels), m = result.GetValue(models), v = result.GetValue(matte) is not null;
            if ((k ? 1 : 0) + (m ? 1 : 0) + (v ? 1 : 0) != 1) { result.AddError("choose one suite: --kernels, --models or --matte FILE"); return; }
            (Option Option, bool Applies, string Suites)[] specific =
            [
                (kernel, k, "--kernels"), (size, m, "--models"), (profile, m, "--models"), (modelDir, m, "--models"), (video, m, "--models"), (dry, m, "--models"),
                (rounds, v, "--matte"), (model, v, "--matte"), (preset, v, "--matte"), (pipeline, v, "--matte"), (downsample, m || v, "--models and --matte"), (frames, m || v, "--models and --matte"),
            ];
            foreach (var (o, applies, suites) in specific)
                if (!applies && result.GetResult(o) is { Implicit: false }) result.AddError($"{o.Name} applies to {suites} only");
            if (result.GetValue(dry) && (result.GetResult(size) is { Implicit: false } || result.GetResult(threads) is { Implicit: false } || result.GetResult(frames) is { Implicit: false }))
                result.AddError("--dry fixes the size, threads and frames; leave out --size, --threads and --frames");
        });
        CommandRunner.SetAction(command, (parse, cancel) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var progress = parse.InvocationConfiguration.Error;
            if (parse.GetValue(matte) is { } matteInput)
            {
                var results = MatteBenchmark.Run(matteInput, parse.GetValue(downsample), parse.GetValue(threads) ?? 0, parse.GetValue(frames) ?? 200, parse.GetValue(rounds),
                    parse.GetValue(model), output, cancel, H264Settings.From(parse.GetValue(preset), null), parse.GetValue(pipeline));
                output.WriteLine(MatteBenchmark.Summary(results));
                return ExitCodes.Ok;
            }
            if (parse.GetValue(kernels))
            {
                var report = QuickBench.Run(parse.GetValue(threads) is { } n ? [n] : [1, 2], parse.GetValue(kernel), progress, cancel);
                output.Write(parse.GetValue(json) ? QuickBench.ToJson(report) : QuickBench.ToText(report));
                return ExitCodes.Ok;
            }
            string folder = parse.GetValue(modelDir) ?? ModelCase.FindModelsFolder()
                ?? throw new UserInputException("no models/ folder with bivm.onnx above the current directory or the program; name one with --model-dir");
            if (!Directory.Exists(folder)) throw new UserInputException($"--model-dir {folder}: folder not found");
            var options = parse.GetValue(dry) ? ModelBenchOptions.Dry : new ModelBenchOptions();
            float? ratio = parse.GetValue(downsample);
            if (parse.GetResult(size) is { Implicit: false })
            {
                var s = parse.GetValue(size);
                options = options with { Sizes = [new BenchSize(s.Width, s.Height, ratio ?? MattingContract.DefaultDownsampleRatio(s.Width, s.Height))] };
            }
            else if (ratio is { } r) options = options with { Sizes = [.. options.Sizes.Select(s => s with { Downsample = r })] };
            if (parse.GetValue(threads) is { } t) options = options with { Threads = [t] };
            if (parse.GetValue(frames) is { } f) options = options with { Frames = f };
            options = options with { Profile = parse.GetValue(profile) };
            if (parse.GetValue(video) is { } file) options = options with { Video = BenchVideoFrames.Open(file) };
            var result = ModelBench.Run(ModelCase.Shipped(folder), options, progress);
            output.Write(parse.GetValue(json) ? ModelReportWriter.ToJson(result) : ModelReportWriter.ToText(result));
            return ExitCodes.Ok;
        });
        return command;
    }
}
