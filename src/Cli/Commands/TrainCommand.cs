using System.CommandLine;
using BiVM.Contracts;
using BiVM.Model;
using BiVM.Training;
using Spectre.Console;

namespace BiVM.Cli.Commands;

/// <summary>
/// <c>bivm train --config FILE --run DIR [--resume]</c>: trains a model family from a configuration in
/// configs/, with a progress bar (loss, speed, ETA), checkpoints in DIR and a CSV log. Ctrl-C writes a
/// checkpoint and stops; <c>--resume</c> continues it bit-identically.
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "Training configuration (JSON, see configs/).", Required = true };
        var run = new Option<string>("--run") { Description = "Run folder: checkpoint/, final/, losses.csv.", Required = true };
        var resume = new Option<bool>("--resume") { Description = "Continue the checkpoint in the run folder." };
        var family = CliOptions.Family("Check that the configuration trains this family.", required: false);
        var command = new Command("train", "Train a model family on composite clips: generated figures, and where the config's \"data\" "
            + "section says so, real people from the people bank (./install.sh prepares it), a matting data set in RVM's layouts "
            + "(VideoMatte240K-style clip folders of fgr/ and pha/ frames or videos, image-matting fgr/ + pha/ pairs) and a folder "
            + "of background images and videos.");
        foreach (var option in new Option[] { config, run, resume, family }) command.Options.Add(option);
        CommandRunner.SetAction(command, (parse, cancel) =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var training = TrainingConfig.Load(parse.GetValue(config)!);
            if (CliOptions.FamilyIfGiven(parse, family) is { } expected && expected != training.Family)
                throw new UserInputException($"--family {expected.ToCliName()} but {parse.GetValue(config)} trains {training.Family.ToCliName()}");
            using var trainer = new Trainer(training, parse.GetValue(run)!);
            string final = Run(trainer, training, parse.GetValue(resume), cancel, stdout);
            stdout.WriteLine($"trained {training.Family.ToCliName()}{(training.FullPrecision ? " (full precision)" : "")} for {training.TotalSteps} steps: {final}");
            return ExitCodes.Ok;
        }, cancelled: parse => $"stopped; checkpoint written to {parse.GetValue(run)}/checkpoint (continue with --resume)");
        return command;
    }

    private static string Run(Trainer trainer, TrainingConfig config, bool resume, CancellationToken cancel, TextWriter stdout)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            // Logs and CI: one line every 10 steps.
            return trainer.Run(resume, cancel, r =>
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
                final = trainer.Run(resume, cancel, r =>
                {
                    smoothed = smoothed is null ? r.Total : 0.98 * smoothed + 0.02 * r.Total;
                    task.Value = r.Step;
                    task.Description = $"[{r.Stage}] step {r.Step}/{r.TotalSteps} loss {smoothed:F4} ({r.Step / Math.Max(r.Seconds, 1e-9):F2} step/s)";
                });
            });
        return final;
    }
}
