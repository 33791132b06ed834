using System.CommandLine;
using System.Globalization;
using BiVM.Cli.Matting;
using Spectre.Console;

namespace BiVM.Cli.Commands;

/// <summary><c>bivm matte INPUT [options]</c>: alpha matte and composite for a video, an image, a folder of images, a camera or a raw stream.</summary>
internal static class MatteCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("INPUT") { Description = "A video file, an image, a folder of images (natural order: 2 before 10), camera:N (or /dev/videoN), or - for raw frames on standard input (needs --size)." };
        var output = new Option<string?>("--out") { Description = "Composite output: a video (.mp4, .mkv, .avi), an image, a folder for PNGs, or - for raw frames on standard output. Default: INPUT's name + _composite in the current folder." };
        var background = new Option<string>("--background") { Description = "Colour (green, white, #RRGGBB, R,G,B), image file, or video file (looped when shorter than INPUT, trimmed when longer).", DefaultValueFactory = _ => "green" };
        var alpha = new Option<string?>("--alpha") { Description = "Alpha matte output, lossless: .mkv/.avi (FFV1 grey), .png for one image, or a folder of PNGs." };
        var foreground = new Option<string?>("--foreground") { Description = "Foreground output: a folder (or .png) gets RGBA PNGs with the alpha; a video gets the colour (pair it with --alpha)." };
        var model = CliOptions.Model("ONNX model file (bivm, rvm or rvm-react). Default: the model shipped with bivm.");
        var downsample = CliOptions.Downsample("Downsample ratio in (0, 1]. Default: min(512 / max(H, W), 1).");
        var maxFrames = new Option<int?>("--frames") { Description = "Matte only the first N frames (a preview; the audio is cut to match).", HelpName = "N" }.Require(n => n >= 1, "must be at least 1");
        var threads = CliOptions.Threads("ONNX Runtime intra-op threads (0: one per physical core, ONNX Runtime's default; on a 2-CPU host loaded by other work, 1 leaves a CPU to decoding, compositing and encoding).");
        var noVerify = CliOptions.NoVerify();
        var pipeline = new Option<bool>("--pipeline") { Description = "Run the network as a pipeline of its stages over consecutive frames (encoder, recurrent decoder, last decoder block, refiner; --threads workers, one stage each at a time) instead of splitting each layer over the threads: a few frames more of memory and of latency. Default: the pipeline for video files of at most 1920x1080 on two model threads, where it measured faster or even on the Zen 4 host and up to 768x576 on a Zen 5 one (slower there at 720p and 1080p); frame by frame otherwise (docs/benchmark-history.md: Frames in a pipeline)." };
        var noPipeline = new Option<bool>("--no-pipeline") { Description = "Run the network frame by frame, each layer split over the threads, also where the pipeline would be chosen by default." };
        var noAudio = new Option<bool>("--no-audio") { Description = "Do not copy the input's audio into the composite and foreground videos." };
        var size = CliOptions.Size("Frame size of raw frames on standard input (INPUT -).", new FrameSize(0, 0));
        size.DefaultValueFactory = null;   // no default to show: required with INPUT -, refused otherwise
        var rate = new Option<string?>("--rate") { Description = "Frame rate of raw input or of an image folder, e.g. 25 or 30000/1001 (default 25). A video file's own rate is always kept.", HelpName = "R" };
        rate.Validators.Add(r => { if (r.GetValue(rate) is { } v && !Rational.TryParse(v, out _)) r.AddError($"--rate {v}: expected a positive rate such as 25 or 30000/1001"); });
        var preset = new Option<string?>("--preset") { Description = $"x264 speed preset of .mp4 outputs (default {H264Settings.DefaultPreset}): a faster one costs less CPU per frame and gives bigger files at the same --crf (README: measured sizes and times).", HelpName = "PRESET" };
        preset.AcceptOnlyFromAmong(H264Settings.Presets);
        var crf = new Option<int?>("--crf") { Description = $"x264 constant rate factor of .mp4 outputs, 0 (lossless) to 51 (default {H264Settings.DefaultCrf}): lower is better quality and bigger files.", HelpName = "N" }
            .Require(n => n is >= 0 and <= 51, "must be between 0 and 51");
        var pixelFormat = new Option<string>("--pixel-format") { Description = "Pixel order of raw frames on standard input and output.", DefaultValueFactory = _ => RawFormat.Bgr24 };
        pixelFormat.AcceptOnlyFromAmong(RawFormat.PixelFormats);

        var command = new Command("matte", "Matte a video, an image, a folder of images, a camera or a raw stream: composite, alpha and foreground; a video's audio and exact frame rate are kept.");
        command.Arguments.Add(input);
        foreach (var option in new Option[] { output, background, alpha, foreground, model, downsample, threads, maxFrames, noAudio, preset, crf, size, rate, pixelFormat, noVerify, pipeline, noPipeline }) command.Options.Add(option);
        command.Validators.Add(result =>
        {
            bool raw = result.GetValue(input) == "-";
            bool sized = result.GetResult(size) is { Implicit: false };
            if (raw && !sized) result.AddError("INPUT -: raw frames on standard input need --size WIDTHxHEIGHT");
            if (!raw && sized) result.AddError("--size: only for raw frames on standard input (INPUT -)");
            if (result.GetValue(pipeline) && result.GetValue(noPipeline)) result.AddError("--pipeline and --no-pipeline: give at most one");
        });

        CommandRunner.SetAction(command, (parse, cancel) =>
        {
            string inputPath = parse.GetValue(input)!;
            var frameSize = parse.GetValue(size);
            Rational? frameRate = parse.GetValue(rate) is { } text && Rational.TryParse(text, out var r) ? r : null;
            var raw = inputPath == "-" ? new RawFormat(frameSize.Width, frameSize.Height, parse.GetValue(pixelFormat)!, frameRate ?? new Rational(25, 1)) : null;
            var request = new MatteRequest(inputPath, parse.GetValue(output), parse.GetValue(background)!,
                parse.GetValue(alpha), parse.GetValue(foreground), parse.GetValue(model), parse.GetValue(downsample), parse.GetValue(threads), parse.GetValue(maxFrames),
                parse.GetValue(noAudio), raw, frameRate, !parse.GetValue(noVerify), H264Settings.From(parse.GetValue(preset), parse.GetValue(crf)),
                parse.GetValue(pipeline) ? true : parse.GetValue(noPipeline) ? false : null);
            // Frames on standard output: everything we say goes to standard error.
            bool framesOnStdout = request.Out == "-";
            var report = framesOnStdout ? parse.InvocationConfiguration.Error : parse.InvocationConfiguration.Output;
            var summary = RunWithProgress(request, interactive: !framesOnStdout && AnsiConsole.Profile.Capabilities.Interactive, parse.InvocationConfiguration.Error, cancel);
            foreach (var note in summary.Notes) parse.InvocationConfiguration.Error.WriteLine($"bivm matte: {note}");
            report.WriteLine(FormattableString.Invariant($"matted {summary.Frames} frame(s) in {summary.Seconds:F1} s ({summary.Fps:F1} fps) with {summary.Model}"));
            report.WriteLine($"time: {summary.Stages.Describe(summary.Frames)}; {CoreSchedule.Describe(summary.ModelThreads)}{(summary.Pipelined ? ", the network as a pipeline of its stages" : "")}");
            foreach (var path in summary.Outputs) report.WriteLine(path == "-" ? "wrote standard output" : $"wrote {path}");
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>A progress bar with frames, fps and time left on a terminal; a plain line every few seconds when redirected.</summary>
    private static MatteSummary RunWithProgress(MatteRequest request, bool interactive, TextWriter error, CancellationToken cancel)
    {
        if (!interactive)
        {
            double lastLine = 0;
            return MatteJob.Run(request, (done, total, seconds) =>
            {
                if (seconds - lastLine < 5) return;
                lastLine = seconds;
                error.WriteLine($"bivm matte: {Describe(done, total, seconds)}");
            }, cancel);
        }
        MatteSummary? summary = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("matting", maxValue: 1);
                summary = MatteJob.Run(request, (done, total, seconds) =>
                {
                    task.MaxValue = total ?? done + 1;
                    task.Value = done;
                    task.Description = Describe(done, total, seconds);
                }, cancel);
                task.Value = task.MaxValue;
            });
        return summary!;
    }

    private static string Describe(int done, int? total, double seconds)
    {
        double fps = done / Math.Max(seconds, 1e-9);
        string frames = total is { } t ? $"{done}/{t} frames" : $"{done} frames";
        string left = total is { } all && fps > 0 ? string.Create(CultureInfo.InvariantCulture, $", {Math.Max(0, all - done) / fps:F0} s left") : "";
        return string.Create(CultureInfo.InvariantCulture, $"{frames}, {fps:F1} fps{left}");
    }
}
