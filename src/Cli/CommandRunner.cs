using System.CommandLine;
using BiVM.Contracts;

namespace BiVM.Cli;

/// <summary>
/// The one error policy of every <c>bivm</c> command. The type of an exception says whose problem it is: a
/// <see cref="UserInputException"/> (raised where input is validated) is the user's and is printed as one line; any
/// other exception is ours and is printed as an internal error, with the stack trace under <c>--verbose</c>.
/// Usage errors never get here: they are parse errors (<see cref="BivmCommandLine.Invoke"/>).
/// </summary>
internal static class CommandRunner
{
    /// <summary>Makes <paramref name="work"/> the command's action; it returns the exit code when it completes.</summary>
    /// <param name="cancelled">What to say when Ctrl-C stopped the work (default: "cancelled").</param>
    public static void SetAction(Command command, Func<ParseResult, CancellationToken, int> work, Func<ParseResult, string>? cancelled = null) =>
        command.SetAction((parse, cancel) => Task.FromResult(Run(parse, cancel, work, cancelled)));

    private static int Run(ParseResult parse, CancellationToken cancel, Func<ParseResult, CancellationToken, int> work, Func<ParseResult, string>? cancelled)
    {
        var error = parse.InvocationConfiguration.Error;
        string name = $"bivm {parse.CommandResult.Command.Name}";
        try
        {
            return work(parse, cancel);
        }
        catch (UserInputException e)
        {
            error.WriteLine($"{name}: {e.Message}");
            return ExitCodes.UserInputError;
        }
        catch (Model.Numerics.LibTorchNumericsException e)
        {
            // Not the user's input and not our defect: this host's LibTorch cannot be trusted. One line that says why.
            error.WriteLine($"{name}: {e.Message}");
            return ExitCodes.InternalError;
        }
        catch (OperationCanceledException e) when (cancel.IsCancellationRequested)
        {
            // --verbose says where the work stopped (e.g. inside an ONNX Runtime run), for whoever debugs a slow stop.
            string where = parse.GetValue(BivmCommandLine.Verbose) ? $" ({e.Message})" : "";
            error.WriteLine($"{name}: {cancelled?.Invoke(parse) ?? "cancelled"}{where}");
            return ExitCodes.Cancelled;
        }
        catch (Exception e)
        {
            error.WriteLine($"{name}: internal error: {e.GetType().FullName}: {e.Message}");
            error.WriteLine(parse.GetValue(BivmCommandLine.Verbose) ? e.ToString() : "(run again with --verbose for the stack trace)");
            return ExitCodes.InternalError;
        }
    }
}
