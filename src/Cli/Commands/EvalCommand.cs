using System.CommandLine;
using BiVM.Cli.Evaluation;
using BiVM.Data.Metrics;
using BiVM.Data.Synthesis;
using BiVM.Estimators.Video;

namespace BiVM.Cli.Commands;

/// <summary>
/// <c>bivm eval --model FILE [--model FILE …] (--data DIR | --seed N)</c>: MAD, MSE, Grad, Conn, dtSSD
/// and foreground errors of ONNX models on clips with ground-truth alpha; prints the table and
/// writes it as CSV and JSON.
/// </summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var models = CliOptions.Models("ONNX model file(s); one table row each.");
        var data = new Option<string?>("--data") { Description = "A clip folder (src/ and pha/ frames, docs/data.md) or a folder of clip folders.", HelpName = "DIR" };
        var seed = new Option<long?>("--seed") { Description = $"Generate the validation split with this seed (default: the fixed set, seed {DataSets.Validation.Seed})." };
        var clips = new Option<int>("--clips") { Description = "Number of generated clips.", DefaultValueFactory = _ => DataSets.Validation.ClipCount }.Require(n => n >= 1, "must be at least 1");
        var frames = new Option<int>("--frames") { Description = "Frames per generated clip.", DefaultValueFactory = _ => DataSets.Validation.Options.Frames }.Require(n => n >= 1, "must be at least 1");
        var size = CliOptions.Size("Generated clip size.", new FrameSize(DataSets.Validation.Options.Width, DataSets.Validation.Options.Height), minimum: 16);
        var downsample = CliOptions.Downsample("Downsample ratio in (0, 1]. Default: min(512 / max(H, W), 1).");
        var threads = CliOptions.Threads();
        var noVerify = CliOptions.NoVerify();
        var csv = new Option<string?>("--csv") { Description = "Write the table as CSV.", HelpName = "FILE" };
        var json = new Option<string?>("--json") { Description = "Write the table as JSON.", HelpName = "FILE" };
        var command = new Command("eval", "Evaluate matting models: MAD, MSE, Grad, Conn, dtSSD, foreground MAD/MSE.");
        foreach (var option in new Option[] { models, data, seed, clips, frames, size, downsample, threads, noVerify, csv, json }) command.Options.Add(option);
        command.Validators.Add(result =>
        {
            if (result.GetResult(data) is not null && result.GetResult(seed) is not null) result.AddError("give --data or --seed, not both");
        });
        CommandRunner.SetAction(command, (parse, cancel) =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            if (parse.GetValue(csv) is { } csvOut) OutputPath.RequireFolder("--csv", csvOut);
            if (parse.GetValue(json) is { } jsonOut) OutputPath.RequireFolder("--json", jsonOut);
            var (w, h) = parse.GetValue(size);
            var (setName, _, count) = ModelEvaluator.Clips(parse.GetValue(data), parse.GetValue(seed), parse.GetValue(clips), parse.GetValue(frames), w, h);
            var table = new MetricsTable();
            foreach (var model in parse.GetValue(models)!)
            {
                using var session = new MattingSession(new VideoMatterOptions { ModelPath = model, IntraOpThreads = parse.GetValue(threads), VerifyChecksum = !parse.GetValue(noVerify) });
                string row = Path.GetFileNameWithoutExtension(model);
                var (_, clipStream, _) = ModelEvaluator.Clips(parse.GetValue(data), parse.GetValue(seed), parse.GetValue(clips), parse.GetValue(frames), w, h);
                ModelEvaluator.Evaluate(table, row, session, clipStream, parse.GetValue(downsample),
                    done => parse.InvocationConfiguration.Error.Write($"\r{row}: clip {done}/{count}"), cancel);
                parse.InvocationConfiguration.Error.WriteLine();
            }
            stdout.WriteLine($"data: {setName}");
            stdout.Write(table.Format());
            if (parse.GetValue(csv) is { } csvPath) { table.WriteCsv(csvPath); stdout.WriteLine($"wrote {csvPath}"); }
            if (parse.GetValue(json) is { } jsonPath) { table.WriteJson(jsonPath); stdout.WriteLine($"wrote {jsonPath}"); }
            return ExitCodes.Ok;
        });
        return command;
    }
}
