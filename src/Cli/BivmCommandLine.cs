using System.CommandLine;
using System.CommandLine.Parsing;
using BiVM.Cli.Commands;

namespace BiVM.Cli;

/// <summary>The <c>bivm</c> command tree. Each subcommand lives in Commands/ in its own file.</summary>
public static class BivmCommandLine
{
    /// <summary>Every command: print the stack trace of an internal error.</summary>
    public static readonly Option<bool> Verbose = new("--verbose") { Description = "On an internal error, print the stack trace.", Recursive = true };

    public static RootCommand Build()
    {
        var root = new RootCommand("bivm: binarized video matting (BiVM) on the CPU with ONNX Runtime.");
        root.Options.Add(Verbose);
        root.Subcommands.Add(InfoCommand.Create());
        root.Subcommands.Add(MatteCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(PackRunCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(CompareCommand.Create());
        root.Subcommands.Add(StampCommand.Create());
        root.Subcommands.Add(ImportCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(FlopsCommand.Create());
        return root;
    }

    /// <summary>
    /// Parses and runs <paramref name="args"/>. A command line that does not parse (unknown command or option, a
    /// missing or invalid value, contradicting options) prints the errors and the usage and exits with
    /// <see cref="ExitCodes.UsageError"/>; otherwise the command's own exit code (<see cref="CommandRunner"/>).
    /// </summary>
    public static int Invoke(string[] args, InvocationConfiguration? configuration = null)
    {
        configuration ??= new InvocationConfiguration();
        var parse = Build().Parse(args);
        if (parse.Errors.Count == 0)
        {
            // Signals are ours (TerminationSignals), not System.CommandLine's, which crashes on a second one.
            configuration.ProcessTerminationTimeout = null;
            using var signals = new TerminationSignals(configuration.Error);
            return parse.InvokeAsync(configuration, signals.Token).GetAwaiter().GetResult();
        }
        foreach (var error in parse.Errors) configuration.Error.WriteLine($"bivm: {error.Message}");
        // The usage of the command that failed to parse, on the error stream with the errors (stdout may be piped).
        var usage = new InvocationConfiguration { Output = configuration.Error, Error = configuration.Error };
        Build().Parse([.. CommandPath(parse.CommandResult), "--help"]).Invoke(usage);
        return ExitCodes.UsageError;
    }

    private static IEnumerable<string> CommandPath(CommandResult? command)
    {
        var names = new Stack<string>();
        for (; command is { Command: not RootCommand }; command = command.Parent as CommandResult) names.Push(command.Command.Name);
        return names;
    }
}
