using System.Runtime.InteropServices;

namespace BiVM.Cli;

/// <summary>
/// SIGINT and SIGTERM for every command, in one place. The first signal cancels the command's token: the work stops
/// at its next frame or step boundary, removes its temporary outputs and exits 130 (<see cref="CommandRunner"/>).
/// Later signals are noted and otherwise ignored: the process is already stopping, and ending it abruptly would leave
/// the temporary files behind. System.CommandLine's own handler is switched off (<see cref="BivmCommandLine.Invoke"/>):
/// it completes its task a second time on a second signal and crashes the process (exit 134).
/// </summary>
internal sealed class TerminationSignals : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly PosixSignalRegistration[] _registrations;
    private readonly TextWriter _error;
    private int _received;

    public TerminationSignals(TextWriter error)
    {
        _error = error;
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle), PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle)];
    }

    public CancellationToken Token => _cancel.Token;

    private void Handle(PosixSignalContext context)
    {
        context.Cancel = true;   // no default termination: the command stops itself and cleans up
        if (Interlocked.Increment(ref _received) == 1)
        {
            _cancel.Cancel();
            return;
        }
        _error.WriteLine($"bivm: {context.Signal} again: already stopping");
    }

    public void Dispose()
    {
        foreach (var registration in _registrations) registration.Dispose();
        _cancel.Dispose();
    }
}
