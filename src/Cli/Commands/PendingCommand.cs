using System.CommandLine;

namespace BiVM.Cli.Commands;

/// <summary>A subcommand whose implementation has not landed yet: says so and fails (exit 3).</summary>
internal static class PendingCommand
{
    public static Command Create(string name, string description, int issue)
    {
        var command = new Command(name, $"{description} [not built yet: issue #{issue}]");
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(_ =>
        {
            Console.Error.WriteLine($"bivm {name}: not built yet (issue #{issue}). See README.md, 'Status'.");
            return 3;
        });
        return command;
    }
}
