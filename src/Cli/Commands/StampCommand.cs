using System.CommandLine;
using BiVM.Contracts;

namespace BiVM.Cli.Commands;

/// <summary>
/// <c>bivm stamp MODEL --out FILE</c>: a copy of an ONNX model with bivm's integrity checksum (<see cref="ModelChecksum"/>).
/// <c>bivm export</c> stamps what it writes; this is for files written before exports carried a checksum, and for
/// files from other tools that you trust. The copy differs from the original only by the appended metadata entry (a
/// file that already carried a checksum loses the old entry), so ONNX Runtime computes the same outputs from it.
/// </summary>
internal static class StampCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("MODEL") { Description = "The ONNX model file." };
        var output = new Option<string?>("--out") { Description = "Where to write the stamped copy (default: replace MODEL).", HelpName = "FILE" };
        var command = new Command("stamp", "Write an ONNX model with bivm's integrity checksum, which loading verifies.");
        command.Arguments.Add(model);
        command.Options.Add(output);
        CommandRunner.SetAction(command, (parse, cancel) =>
        {
            string source = parse.GetValue(model)!;
            string target = parse.GetValue(output) ?? source;
            if (!File.Exists(source)) throw new UserInputException($"{source}: model file not found");
            string folder = OutputPath.RequireFolder("--out", target);
            var before = File.ReadAllBytes(source);
            var status = ModelChecksum.Check(before);
            byte[] stamped;
            try
            {
                stamped = ModelChecksum.Stamp(before);
            }
            catch (UserInputException e)
            {
                throw new UserInputException($"{source}: {e.Message}");
            }
            cancel.ThrowIfCancellationRequested();
            string temp = Path.Combine(folder, $".{Path.GetFileName(target)}.{Environment.ProcessId}.tmp");
            try
            {
                File.WriteAllBytes(temp, stamped);
                File.Move(temp, target, overwrite: true);
            }
            finally
            {
                if (File.Exists(temp)) File.Delete(temp);
            }
            string was = status switch
            {
                ChecksumStatus.Verified => "its checksum was already valid",
                ChecksumStatus.Mismatch => "it carried a checksum that did not match its content; replaced",
                _ => "it carried no checksum",
            };
            parse.InvocationConfiguration.Output.WriteLine($"wrote {target}: {ModelChecksum.Key} {ModelChecksum.ComputeFor(stamped)} ({was})");
            return ExitCodes.Ok;
        });
        return command;
    }
}
