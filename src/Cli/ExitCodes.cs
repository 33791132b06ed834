namespace BiVM.Cli;

/// <summary>The exit codes of every <c>bivm</c> command; the README's "Exit codes" table lists the same.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The command line is well formed, but what it names is wrong: a missing or corrupt file, a model that is not a matting model, an invalid configuration.</summary>
    public const int UserInputError = 1;

    /// <summary>The command line itself is wrong: an unknown command or option, a missing or malformed value, options that contradict each other.</summary>
    public const int UsageError = 2;

    /// <summary>A defect in bivm, a broken installation (a native part that does not load), or a host whose LibTorch computes wrong convolutions on every path (one line, no stack trace).</summary>
    public const int InternalError = 3;

    /// <summary>Stopped by Ctrl-C (128 + SIGINT, the shells' convention).</summary>
    public const int Cancelled = 130;
}
