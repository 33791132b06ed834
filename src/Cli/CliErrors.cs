namespace BiVM.Cli;

/// <summary>Which exceptions are the user's input being wrong (one clear line, exit 1), as opposed to bugs.</summary>
internal static class CliErrors
{
    public static bool IsUserError(Exception e) => e is IOException or UnauthorizedAccessException or InvalidDataException
        or ArgumentException or InvalidOperationException or OperationCanceledException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException;
}
