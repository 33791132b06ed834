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

    /// <summary>
    /// Starts <c>bivm</c> through a launcher that execs dotnet in the same process with SIGINT and SIGTERM unblocked
    /// and at their defaults, as a shell gives a foreground command: a process inherits blocked and ignored signals,
    /// and .NET keeps an inherited SIG_IGN.
    /// </summary>
    private static (Process Process, StringBuilder Stdout, StringBuilder Stderr) Start(params string[] args)
    {
        var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        // No debugger pipes or diagnostic socket: a child these tests SIGKILL cannot remove them from the temp folder.
        start.Environment["DOTNET_EnableDiagnostics"] = "0";
        foreach (var arg in new[] { "-c", Launcher, "dotnet", typeof(BivmCommandLine).Assembly.Location }.Concat(args))
            start.ArgumentList.Add(arg);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (stderr) stderr.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return (process, stdout, stderr);
    }

    /// <summary>CPU seconds (user + system) the process has used so far, from /proc/PID/stat; a clock that load on other processes does not move.</summary>
    private static double CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11]) + long.Parse(fields[12])) / 100.0;   // utime, stime in clock ticks (USER_HZ = 100)
        }
        catch (IOException)
        {
            return 0;   // the process has ended
        }
    }

    [Fact]
    public void A_signal_inside_a_single_long_frame_stops_the_ONNX_Runtime_run()
    {
        // One 2560×1440 frame at downsample 1 with one thread: about 3.5 CPU seconds of ONNX Runtime work on the
        // fastest host measured (Zen 5), more elsewhere. When that run begins is measured, not assumed: the same command
        // on a 64×64 image (start-up, model load, a frame of almost nothing) gives the CPU time before a frame's run,
        // and the signal goes half a CPU second after it (a fixed 1.5 s, right for Zen 3's slower frame, came after the
        // whole 1080p run on Zen 5 under the test run's load). CPU time, not wall time, decides when to signal, so load
        // from other processes cannot move the signal out of the frame. Without RunOptions.Terminate the frame would
        // finish, be written and exit 0: a one-frame input has no next frame boundary to stop at.
        string probe = Directory.CreateDirectory(Path.Combine(_dir, "probe")).FullName;
        string small = Path.Combine(probe, "small.png");
        using (var image = new Mat(64, 64, MatType.CV_8UC3, new Scalar(40, 90, 160))) Cv2.ImWrite(small, image);
        double beforeRun = 0;
        var (smallRun, _, smallErrors) = Start("matte", small, "--out", Path.Combine(probe, "small-out.png"), "--threads", "1", "--downsample", "1");
        using (smallRun)
        {
            while (!smallRun.HasExited)
            {
                beforeRun = Math.Max(beforeRun, CpuSeconds(smallRun.Id));
                Thread.Sleep(10);
            }
            smallRun.WaitForExit();
            Assert.True(smallRun.ExitCode == 0, $"the 64×64 run failed: {smallErrors}");
        }

        string input = Path.Combine(_dir, "big.png");
        using (var image = new Mat(1440, 2560, MatType.CV_8UC3, new Scalar(40, 90, 160)))
        {
            Cv2.Circle(image, new Point(1280, 720), 400, new Scalar(230, 230, 230), -1);
            Cv2.ImWrite(input, image);
        }
        string output = Path.Combine(_dir, "out.png");
        var (process, stdout, stderr) = Start("matte", input, "--out", output, "--threads", "1", "--downsample", "1", "--verbose");
        using var _ = process;
        while (!process.HasExited && CpuSeconds(process.Id) < beforeRun + 0.5) Thread.Sleep(20);
        Assert.False(process.HasExited, $"bivm matte ended before it could be signalled: {stderr}");
        Assert.Equal(0, Kill(process.Id, SigInt));
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "bivm matte did not stop within 60 s of the signal");
        process.WaitForExit();

        string errors = stderr.ToString();
        Assert.True(process.ExitCode == 130, $"exit {process.ExitCode}: {errors}{stdout}");
        // --verbose says where the work stopped: inside the ONNX Runtime run (RunOptions.Terminate), not after it.
        Assert.Contains("bivm matte: cancelled (the frame was cancelled while ONNX Runtime ran it)", errors);
        Assert.Equal([input], Directory.GetFiles(_dir));
    }

    [Fact]
    public void Training_killed_at_any_moment_keeps_a_checkpoint_that_resumes_to_the_end()
    {
        // A checkpoint after every step, so kills land inside checkpoint writes too.
        const int Steps = 24;
        string config = Path.Combine(_dir, "tiny.json"), run = Path.Combine(_dir, "run");
        File.WriteAllText(config, $$"""
            { "family": "rvm", "seed": 3, "dataSeed": 9, "checkpointEvery": 1, "threads": 1,
              "stages": [ { "name": "a", "steps": {{Steps}}, "width": 64, "height": 64, "frames": 2, "batchSize": 1 } ] }
            """);
        string state = Path.Combine(run, "checkpoint", "state.json");

        // SIGINT: stops at the step boundary with a checkpoint and exit 130.
        var (first, _, firstErr) = Start("train", "--config", config, "--run", run);
        using (first)
        {
            while (!first.HasExited && !File.Exists(state)) Thread.Sleep(20);
            Assert.Equal(0, Kill(first.Id, SigInt));
            first.WaitForExit();
            Assert.True(first.ExitCode == 130, $"exit {first.ExitCode}: {firstErr}");
            Assert.Contains("checkpoint written", firstErr.ToString());
        }

        // SIGKILL (nothing can be cleaned up) at varied moments, each after at least one more step.
        var random = new Random(15);
        for (int kill = 0; kill < 3; kill++)
        {
            int before = StepsDone(run);
            var (process, _, err) = Start("train", "--config", config, "--run", run, "--resume");
            using (process)
            {
                while (!process.HasExited && StepsDone(run) <= before) Thread.Sleep(5);
                Thread.Sleep(random.Next(0, 150));
                if (process.HasExited) break;
                Assert.Equal(0, Kill(process.Id, 9));
                process.WaitForExit();
            }
        }

        var (last, lastOut, lastErr) = Start("train", "--config", config, "--run", run, "--resume");
        using (last)
        {
            last.WaitForExit();
            Assert.True(last.ExitCode == 0, $"exit {last.ExitCode}: {lastErr}{lastOut}");
        }
        Assert.True(File.Exists(Path.Combine(run, "final", "model.bin")));
        Assert.Equal(Steps, StepsDone(run));
        // One losses.csv row per step, each step once: a resume continues where the checkpoint was, not where the kill was.
        var steps = File.ReadAllLines(Path.Combine(run, "losses.csv")).Skip(1).Select(l => int.Parse(l.Split(',')[0], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(Enumerable.Range(1, Steps), steps);
    }

    /// <summary>Steps in the run's checkpoint (0 while there is none), read through the same recovery a resume does.</summary>
    private static int StepsDone(string run)
    {
        var folder = new BiVM.Training.RunFolder(run);
        try
        {
            return folder.HasCheckpoint ? (int)folder.LoadState().StepsDone : 0;
        }
        catch (IOException)
        {
            return 0;   // being swapped in right now
        }
    }

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
        var (process, stdout, stderr) = Start("matte", input, "--out", output, "--threads", "1");
        using var _ = process;

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
