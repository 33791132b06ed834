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
        var models = new Option<string[]>("--model") { Description = "ONNX model file(s); one table row each.", Required = true, AllowMultipleArgumentsPerToken = true };
        var data = new Option<string?>("--data") { Description = "A clip folder (src/ and pha/ frames, docs/data.md) or a folder of clip folders." };
        var seed = new Option<long?>("--seed") { Description = $"Generate the validation split with this seed (default: the fixed set, seed {DataSets.Validation.Seed})." };
        var clips = new Option<int>("--clips") { Description = "Number of generated clips.", DefaultValueFactory = _ => DataSets.Validation.ClipCount };
        var frames = new Option<int>("--frames") { Description = "Frames per generated clip.", DefaultValueFactory = _ => DataSets.Validation.Options.Frames };
        var size = new Option<string>("--size") { Description = "Generated clip size WIDTHxHEIGHT.", DefaultValueFactory = _ => $"{DataSets.Validation.Options.Width}x{DataSets.Validation.Options.Height}" };
        var downsample = new Option<float?>("--downsample") { Description = "Downsample ratio (default: min(512 / max(H, W), 1))." };
        var threads = new Option<int>("--threads") { Description = "ONNX Runtime intra-op threads (0: default).", DefaultValueFactory = _ => 0 };
        var csv = new Option<string?>("--csv") { Description = "Write the table as CSV." };
        var json = new Option<string?>("--json") { Description = "Write the table as JSON." };
        var command = new Command("eval", "Evaluate matting models: MAD, MSE, Grad, Conn, dtSSD, foreground MAD/MSE.");
        foreach (var option in new Option[] { models, data, seed, clips, frames, size, downsample, threads, csv, json }) command.Options.Add(option);
        command.SetAction((parse, cancel) =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            try
            {
                if (parse.GetValue(data) is not null && parse.GetValue(seed) is not null)
                    throw new ArgumentException("give --data or --seed, not both");
                var parts = parse.GetValue(size)!.ToLowerInvariant().Split('x');
                if (parts.Length != 2 || !int.TryParse(parts[0], out int w) || !int.TryParse(parts[1], out int h) || w < 16 || h < 16)
                    throw new ArgumentException($"--size {parse.GetValue(size)}: expected WIDTHxHEIGHT, at least 16x16");
                var (setName, _, count) = ModelEvaluator.Clips(parse.GetValue(data), parse.GetValue(seed), parse.GetValue(clips), parse.GetValue(frames), w, h);
                var table = new MetricsTable();
                foreach (var model in parse.GetValue(models)!)
                {
                    using var session = new MattingSession(new VideoMatterOptions { ModelPath = model, IntraOpThreads = parse.GetValue(threads) });
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
                return Task.FromResult(0);
            }
            catch (Exception e) when (CliErrors.IsUserError(e))
            {
                parse.InvocationConfiguration.Error.WriteLine($"bivm eval: {e.Message}");
                return Task.FromResult(1);
            }
        });
        return command;
    }
}
