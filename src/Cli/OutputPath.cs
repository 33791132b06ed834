using BiVM.Contracts;

namespace BiVM.Cli;

/// <summary>
/// Output files named on the command line are checked before any work starts, so that a typo in a folder name
/// is reported as the user's mistake at once, not as a failed write after minutes of matting or evaluation.
/// </summary>
internal static class OutputPath
{
    /// <summary>
    /// The folder <paramref name="path"/> will be written in; throws when it does not exist or this process cannot
    /// create files in it. Writability is tried, not inferred from permission bits: a read-only mount, an ACL or
    /// running as root all decide it, and only creating a file tells.
    /// </summary>
    public static string RequireFolder(string option, string path)
    {
        string? folder = Path.GetDirectoryName(Path.GetFullPath(Path.TrimEndingDirectorySeparator(path)));
        if (folder is null || !Directory.Exists(folder))
            throw new UserInputException($"{option} {path}: folder '{folder}' does not exist");
        string probe = Path.Combine(folder, $".bivm-write-test-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (File.Create(probe, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new UserInputException($"{option} {path}: cannot write in folder '{folder}': {e.Message}");
        }
        return folder;
    }

    /// <summary>Whether an output path names a folder: it ends with a directory separator, or is an existing folder.</summary>
    public static bool NamesFolder(string path) => Path.EndsInDirectorySeparator(path) || Directory.Exists(path);
}
