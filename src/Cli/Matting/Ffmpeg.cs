using System.Diagnostics;
using System.Text;

namespace BiVM.Cli.Matting;

/// <summary>
/// The <c>ffmpeg</c> and <c>ffprobe</c> programs of the Debian package ffmpeg (installed by install.sh). They are
/// always started with an argument list, never through a shell, so no file name is ever parsed as shell syntax.
/// </summary>
internal static class Ffmpeg
{
    /// <summary>A process of <paramref name="program"/> ("ffmpeg" or "ffprobe") with these arguments, not yet started.</summary>
    public static ProcessStartInfo StartInfo(string program, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(Locate(program))
        {
            UseShellExecute = false,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        return start;
    }

    /// <summary>Runs a short ffprobe/ffmpeg command to completion and returns its exit code, standard output and error.</summary>
    public static (int Code, string Out, string Err) Run(string program, IEnumerable<string> arguments, CancellationToken cancel = default)
    {
        var start = StartInfo(program, arguments);
        start.RedirectStandardOutput = true;
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        var stderr = process.StandardError.ReadToEndAsync(cancel);
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout, stderr.GetAwaiter().GetResult());
    }

    /// <summary>The full path of <paramref name="program"/> on PATH; a broken installation (an internal error) when it is missing.</summary>
    public static string Locate(string program)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, program);
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"{program} is not installed (PATH has no '{program}'): install the Debian package ffmpeg (./install.sh does)");
    }

    /// <summary>The last non-empty line of an ffmpeg error stream: the one that says what failed.</summary>
    public static string LastLine(string stderr) =>
        stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "(no message)";
}

/// <summary>Collects a child process's standard error, keeping only its tail, so a chatty process cannot fill memory.</summary>
internal sealed class StderrTail
{
    private const int Limit = 8192;
    private readonly StringBuilder _text = new();

    public void Attach(Process process)
    {
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (_text)
            {
                _text.AppendLine(e.Data);
                if (_text.Length > Limit) _text.Remove(0, _text.Length - Limit);
            }
        };
        process.BeginErrorReadLine();
    }

    public override string ToString()
    {
        lock (_text) return _text.ToString();
    }
}
