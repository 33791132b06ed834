using System.CommandLine;
using BiVM.Contracts;
using BiVM.Model;
using BiVM.Training;
using Spectre.Console;

namespace BiVM.Cli.Commands;

/// <summary>
/// <c>bivm train --config FILE --run DIR [--resume]</c>: trains a model family from a configuration in
/// configs/, with a progress bar (loss, speed, ETA), checkpoints in DIR and a CSV log. Ctrl-C writes a
/// checkpoint and stops; <c>--resume</c> continues it bit-identically, <c>--resume-from PACK</c> continues in a new run
/// folder a run packed elsewhere by <c>bivm pack-run</c>.
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "Training configuration (JSON, see configs/).", Required = true };
        var run = new Option<string>("--run") { Description = "Run folder: checkpoint/, final/, losses.csv.", Required = true };
        var resume = new Option<bool>("--resume") { Description = "Continue the checkpoint in the run folder." };
        var resumeFrom = new Option<string>("--resume-from")
        {
            Description = "Continue the run packed in this file by bivm pack-run, in a run folder without a checkpoint (weights from float16, Adam restarted).",
            HelpName = "FILE",
        };
        var family = CliOptions.Family("Check that the configuration trains this family.", required: false);
        var command = new Command("train", "Train a model family on composite clips: generated figures, and where the config's \"data\" "
            + "section says so, real people from the people bank (./install.sh prepares it), a matting data set in RVM's layouts "
            + "(VideoMatte240K-style clip folders of fgr/ and pha/ frames or videos, image-matting fgr/ + pha/ pairs) and a folder "
            + "of background images and videos.");
        foreach (var option in new Option[] { config, run, resume, resumeFrom, family }) command.Options.Add(option);
        command.Validators.Add(result =>
        {
            if (result.GetResult(resume) is not null && result.GetResult(resumeFrom) is not null)
                result.AddError("give --resume (the run folder's checkpoint) or --resume-from (a packed run), not both");
        });
        CommandRunner.SetAction(command, (parse, cancel) =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var training = TrainingConfig.Load(parse.GetValue(config)!);
            if (CliOptions.FamilyIfGiven(parse, family) is { } expected && expected != training.Family)
                throw new UserInputException($"--family {expected.ToCliName()} but {parse.GetValue(config)} trains {training.Family.ToCliName()}");
            string? pack = parse.GetValue(resumeFrom);
            using var trainer = new Trainer(training, parse.GetValue(run)!);
            string final = Run(trainer, training, parse.GetValue(resume), pack, cancel, stdout);
            stdout.WriteLine($"trained {training.Family.ToCliName()}{(training.FullPrecision ? " (full precision)" : "")} for {training.TotalSteps} steps: {final}");
            return ExitCodes.Ok;
        }, cancelled: parse => $"stopped; checkpoint written to {parse.GetValue(run)}/checkpoint (continue with --resume)");
        return command;
    }

    private static string Run(Trainer trainer, TrainingConfig config, bool resume, string? pack, CancellationToken cancel, TextWriter stdout)
    {
        string Train(Action<StepReport> progress) => pack is null ? trainer.Run(resume, cancel, progress) : trainer.RunFrom(pack, cancel, progress);
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            // Logs and CI: one line every 10 steps.
            return Train(r =>
            {
                if (r.Step % 10 == 0 || r.Step == r.TotalSteps)
                    stdout.WriteLine($"step {r.Step}/{r.TotalSteps} [{r.Stage}] loss {r.Total:F4} ({r.Seconds:F0} s)");
            });
        }
        string final = "";
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("training", maxValue: config.TotalSteps);
                double? smoothed = null;
                final = Train(r =>
                {
                    smoothed = smoothed is null ? r.Total : 0.98 * smoothed + 0.02 * r.Total;
                    task.Value = r.Step;
                    task.Description = $"[{r.Stage}] step {r.Step}/{r.TotalSteps} loss {smoothed:F4} ({r.Step / Math.Max(r.Seconds, 1e-9):F2} step/s)";
                });
            });
        return final;
    }
}
