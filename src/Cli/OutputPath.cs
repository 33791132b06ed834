using BiVM.Contracts;

namespace BiVM.Cli;

/// <summary>
/// Output files named on the command line are checked before any work starts, so that a typo in a folder name
/// is reported as the user's mistake at once, not as a failed write after minutes of matting or evaluation.
/// </summary>
internal static class OutputPath
{
    /// <summary>The folder <paramref name="path"/> will be written in; throws when it does not exist.</summary>
    public static string RequireFolder(string option, string path)
    {
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is null || !Directory.Exists(folder))
            throw new UserInputException($"{option} {path}: folder '{folder}' does not exist");
        return folder;
    }
}
