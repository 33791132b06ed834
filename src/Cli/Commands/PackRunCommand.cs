using System.CommandLine;
using BiVM.Training;

namespace BiVM.Cli.Commands;

/// <summary>
/// <c>bivm pack-run --run DIR --out FILE</c>: a training run's checkpoint as one small file (<see cref="RunPack"/>: the
/// weights in float16, the step count, the run's config and logs) to continue it on another machine with
/// <c>bivm train --resume-from FILE</c>. Written under a temporary name and renamed when complete.
/// </summary>
internal static class PackRunCommand
{
    public static Command Create()
    {
        var run = new Option<string>("--run") { Description = "Run folder of bivm train, with a checkpoint.", Required = true };
        var output = new Option<string>("--out") { Description = "The pack to write (a zip).", Required = true, HelpName = "FILE" };
        var command = new Command("pack-run", "Pack a training run's checkpoint into one small file (weights in float16, step count, config and logs) "
            + "to continue the run elsewhere with bivm train --resume-from; Adam's moments are left out and restart there.");
        command.Options.Add(run);
        command.Options.Add(output);
        CommandRunner.SetAction(command, (parse, cancel) =>
        {
            string target = Path.GetFullPath(parse.GetValue(output)!);
            OutputPath.RequireFolder("--out", target);
            var folder = new RunFolder(parse.GetValue(run)!);
            RunPack.Write(folder, target);
            var state = folder.LoadState();
            parse.InvocationConfiguration.Output.WriteLine(
                $"wrote {target}: step {state.StepsDone} of {folder.Root}, {new FileInfo(target).Length / 1048576.0:F1} MB (checkpoint {CheckpointBytes(folder) / 1048576.0:F1} MB)");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static long CheckpointBytes(RunFolder run) =>
        new DirectoryInfo(run.CheckpointDirectory).EnumerateFiles().Sum(f => f.Length);
}
