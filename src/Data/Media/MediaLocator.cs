namespace BiVM.Data.Media;

/// <summary>Thrown when fetched Debian media is not on disk; the message says how to get it.</summary>
public sealed class MediaMissingException(string message) : Exception(message);

/// <summary>
/// Finds the unpacked Debian packages (.data/debian/&lt;package&gt;/) that scripts/fetch-media.sh
/// writes. The root is $BIVM_MEDIA_DIR when set, otherwise the first ".data/debian" found walking
/// up from the working directory or from this assembly's folder (tests and the CLI run from bin/).
/// </summary>
public sealed class MediaLocator
{
    public const string EnvironmentVariable = "BIVM_MEDIA_DIR";
    private const string Hint = "run ./install.sh (it calls scripts/fetch-media.sh) from the repository root";

    public MediaLocator(string root)
    {
        Root = Path.GetFullPath(root);
    }

    /// <summary>The folder holding one sub-folder per unpacked package.</summary>
    public string Root { get; }

    /// <summary>The default locator; throws <see cref="MediaMissingException"/> when none is found.</summary>
    public static MediaLocator Default()
    {
        string? fromEnv = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(fromEnv))
        {
            if (!Directory.Exists(fromEnv))
                throw new MediaMissingException($"{EnvironmentVariable}={fromEnv} is not a directory; {Hint}, or unset it.");
            return new MediaLocator(fromEnv);
        }
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, ".data", "debian");
                if (Directory.Exists(candidate)) return new MediaLocator(candidate);
            }
        }
        throw new MediaMissingException(
            $"No fetched media (.data/debian) above {Directory.GetCurrentDirectory()} or {AppContext.BaseDirectory}; {Hint}, or set {EnvironmentVariable}.");
    }

    /// <summary>Absolute path of <paramref name="file"/>; throws with the package to fetch when it is missing.</summary>
    public string PathOf(MediaFile file)
    {
        string path = Path.Combine(Root, file.Package, file.PathInPackage);
        if (File.Exists(path)) return path;
        string packageDir = Path.Combine(Root, file.Package);
        string why = Directory.Exists(packageDir)
            ? $"package '{file.Package}' is unpacked at {packageDir} but lacks {file.PathInPackage} (a different package version?)"
            : $"package '{file.Package}' has not been fetched into {packageDir}";
        throw new MediaMissingException($"Media file {file.Id} is missing: {why}; {Hint}.");
    }

    /// <summary>Checks every catalogued file at once and names all missing ones.</summary>
    public void RequireAll(IEnumerable<MediaFile> files)
    {
        var missing = files.Where(f => !File.Exists(Path.Combine(Root, f.Package, f.PathInPackage))).ToArray();
        if (missing.Length == 0) return;
        string packages = string.Join(", ", missing.Select(f => f.Package).Distinct());
        throw new MediaMissingException(
            $"{missing.Length} media file(s) missing under {Root} (packages: {packages}), e.g. {missing[0].Id}; {Hint}.");
    }
}
