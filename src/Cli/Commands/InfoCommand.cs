using System.CommandLine;
using System.Reflection;
using System.Runtime.InteropServices;
using BiVM.CustomOps.Cpu;
using Microsoft.ML.OnnxRuntime;

namespace BiVM.Cli.Commands;

/// <summary><c>bivm info</c>: versions, CPU features, and whether each native part loads.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print the report as JSON." };
        var command = new Command("info", "Print versions, detected CPU features and whether the native parts load.");
        command.Options.Add(json);
        CommandRunner.SetAction(command, (parse, _) =>
        {
            var report = SystemReport.Collect();
            parse.InvocationConfiguration.Output.Write(parse.GetValue(json) ? report.ToJson() : report.ToText());
            // A native part that does not load is a broken installation: the report says which.
            return report.AllLoaded ? ExitCodes.Ok : ExitCodes.InternalError;
        });
        return command;
    }
}
