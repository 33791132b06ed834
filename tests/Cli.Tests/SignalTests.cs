using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using OpenCvSharp;

namespace BiVM.Cli.Tests;

/// <summary>
/// Real signals to a real <c>bivm matte</c> process: the first stops the work at the next frame, removes the
/// temporary output and exits 130; a second (GNU <c>timeout -s INT</c> and an impatient user both send two) never
/// crashes it.
/// </summary>
public sealed class SignalTests : IDisposable
{
    private const int SigInt = 2, SigTerm = 15;
    private readonly string _dir = Directory.CreateTempSubdirectory("bivm-signal-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string Launcher =
        "import os, signal, sys\n" +
        "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})\n" +
        "signal.signal(signal.SIGINT, signal.SIG_DFL)\n" +
        "signal.signal(signal.SIGTERM, signal.SIG_DFL)\n" +
        "os.execvp(sys.argv[1], sys.argv[1:])\n";

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    [Theory]
    [InlineData(new[] { SigInt })]
    [InlineData(new[] { SigInt, SigInt })]
    [InlineData(new[] { SigTerm, SigInt })]
    public void A_signal_during_matting_exits_130_and_leaves_no_output(int[] signals)
    {
        // Long enough that the signals always land mid-run: 1500 frames with the default model (about 20 s).
        string input = Path.Combine(_dir, "in.mkv");
        using (var writer = new VideoWriter(input, VideoWriter.FourCC('F', 'F', 'V', '1'), 25, new Size(128, 72)))
            for (int t = 0; t < 1500; t++)
            {
                using var frame = new Mat(72, 128, MatType.CV_8UC3, new Scalar(40, 90, 160));
                Cv2.Circle(frame, new Point(20 + t % 90, 36), 12, new Scalar(230, 230, 230), -1);
                writer.Write(frame);
            }
        string output = Path.Combine(_dir, "out.mp4");
        // Through a launcher that execs dotnet in the same process with SIGINT and SIGTERM unblocked and at their
        // defaults, as a shell gives a foreground command: a process inherits blocked and ignored signals, and .NET
        // keeps an inherited SIG_IGN.
        var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-c", Launcher, "dotnet", typeof(BivmCommandLine).Assembly.Location, "matte", input, "--out", output, "--threads", "1" })
            start.ArgumentList.Add(arg);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (stderr) stderr.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        // Synchronous waits: xunit runs awaited continuations on its few worker threads, which other test classes
        // may hold for the whole run. Signal once the output is being written (its temporary file exists), so
        // frames are in flight, and at most 5 s after the start.
        var signalled = Stopwatch.StartNew();
        while (Directory.GetFiles(_dir).Length < 2 && !process.HasExited && signalled.Elapsed < TimeSpan.FromSeconds(5)) Thread.Sleep(50);
        Assert.False(process.HasExited, $"bivm matte ended before it could be signalled: {stderr}");
        foreach (var signal in signals)
        {
            if (process.HasExited) break;   // a quick stop after the first signal leaves nobody to receive the second
            Assert.Equal(0, Kill(process.Id, signal));
            Thread.Sleep(100);
        }
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "bivm matte did not stop within 60 s of the signal");
        process.WaitForExit();   // and its output has been read

        string errors = stderr.ToString();
        Assert.True(process.ExitCode == 130, $"exit {process.ExitCode}: {errors}{stdout}");
        Assert.DoesNotContain("Unhandled exception", errors);
        Assert.Contains("bivm matte: cancelled", errors);
        Assert.Equal([input], Directory.GetFiles(_dir));   // no output, no temporary file
    }
}
