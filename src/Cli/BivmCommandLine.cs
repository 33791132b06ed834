using System.CommandLine;
using BiVM.Cli.Commands;

namespace BiVM.Cli;

/// <summary>The <c>bivm</c> command tree. Each subcommand lives in Commands/ in its own file.</summary>
public static class BivmCommandLine
{
    public static RootCommand Build()
    {
        var root = new RootCommand("bivm: binarized video matting (BiVM) on the CPU with ONNX Runtime.");
        root.Subcommands.Add(InfoCommand.Create());
        root.Subcommands.Add(MatteCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(CompareCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(FlopsCommand.Create());
        // A bare `bivm` is a usage error: print help and fail, like an unknown subcommand.
        root.SetAction(parse =>
        {
            Console.Error.WriteLine("bivm: a subcommand is required.");
            new System.CommandLine.Help.HelpAction().Invoke(parse);
            return 1;
        });
        return root;
    }
}
