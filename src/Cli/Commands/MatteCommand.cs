using System.CommandLine;
using BiVM.Cli.Matting;
using Spectre.Console;

namespace BiVM.Cli.Commands;

/// <summary><c>bivm matte INPUT [options]</c>: alpha matte and composite for a video, an image or a folder of images.</summary>
internal static class MatteCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("INPUT") { Description = "A video file, an image, or a folder of images (processed in name order)." };
        var output = new Option<string?>("--out") { Description = "Composite output: a video (.mp4, .mkv, .avi), an image, or a folder for PNGs. Default: INPUT's name + _composite in the current folder." };
        var background = new Option<string>("--background") { Description = "Colour (green, white, #RRGGBB, R,G,B), image file, or video file (looped).", DefaultValueFactory = _ => "green" };
        var alpha = new Option<string?>("--alpha") { Description = "Alpha matte output, lossless: .mkv/.avi (FFV1), .png for one image, or a folder of PNGs." };
        var foreground = new Option<string?>("--foreground") { Description = "Foreground output (same forms as --out)." };
        var model = CliOptions.Model("ONNX model file (bivm, rvm or rvm-react). Default: the model shipped with bivm.");
        var downsample = CliOptions.Downsample("Downsample ratio in (0, 1]. Default: min(512 / max(H, W), 1).");
        var maxFrames = new Option<int?>("--frames") { Description = "Matte only the first N frames (a preview).", HelpName = "N" }.Require(n => n >= 1, "must be at least 1");
        var threads = CliOptions.Threads();
        var noVerify = CliOptions.NoVerify();

        var command = new Command("matte", "Matte a video, an image or a folder of images: composite, alpha and foreground.");
        command.Arguments.Add(input);
        foreach (var option in new Option[] { output, background, alpha, foreground, model, downsample, threads, maxFrames, noVerify }) command.Options.Add(option);

        CommandRunner.SetAction(command, (parse, cancel) =>
        {
            var request = new MatteRequest(parse.GetValue(input)!, parse.GetValue(output), parse.GetValue(background)!,
                parse.GetValue(alpha), parse.GetValue(foreground), parse.GetValue(model), parse.GetValue(downsample), parse.GetValue(threads), parse.GetValue(maxFrames), !parse.GetValue(noVerify));
            var stdout = parse.InvocationConfiguration.Output;
            var summary = RunWithProgress(request, cancel);
            stdout.WriteLine($"matted {summary.Frames} frame(s) in {summary.Seconds:F1} s ({summary.Fps:F1} fps) with {summary.Model}");
            foreach (var path in summary.Outputs) stdout.WriteLine($"wrote {path}");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static MatteSummary RunWithProgress(MatteRequest request, CancellationToken cancel)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
            return MatteJob.Run(request, cancel: cancel);
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
                    task.Description = $"matting {done}{(total is null ? "" : "/" + total)} ({done / Math.Max(seconds, 1e-9):F1} fps)";
                }, cancel);
                task.Value = task.MaxValue;
            });
        return summary!;
    }
}
