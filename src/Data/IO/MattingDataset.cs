namespace BiVM.Data.IO;

/// <summary>One foreground of a matting data set: colour and alpha, frame for frame.</summary>
public sealed record MatteEntry(string Name, FrameSequence Fgr, FrameSequence Pha)
{
    /// <summary>Frames usable in both (checked equal on first use for videos, at open for folders).</summary>
    public int FrameCount
    {
        get
        {
            int f = Fgr.FrameCount, p = Pha.FrameCount;
            if (f != p) throw new InvalidDataException($"{Fgr.Path} has {f} frames but {Pha.Path} has {p}.");
            return f;
        }
    }
}

/// <summary>
/// Real matting data in RVM's layouts, for users who have it (docs/data.md, "Real matting data"):
/// <code>
/// ROOT/fgr/&lt;clip&gt;/0000.jpg …   ROOT/pha/&lt;clip&gt;/0000.jpg …   VideoMatte240K as frames (same file names)
/// ROOT/fgr/&lt;clip&gt;.mp4         ROOT/pha/&lt;clip&gt;.mp4         VideoMatte240K as videos
/// ROOT/fgr/&lt;name&gt;.jpg         ROOT/pha/&lt;name&gt;.png         image matting (AIM, D646, Distinctions): same stem, any image type
/// </code>
/// The three may mix in one ROOT. Backgrounds are a folder of images, videos and frame folders
/// (RVM's BackgroundImages / BackgroundVideos). Every problem is one line naming the file.
/// </summary>
public static class MattingDataset
{
    public const string FgrDir = "fgr", PhaDir = "pha";

    public static IReadOnlyList<MatteEntry> Open(string root)
    {
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"Matting data folder {root} does not exist.");
        string fgrRoot = Path.Combine(root, FgrDir), phaRoot = Path.Combine(root, PhaDir);
        if (!Directory.Exists(fgrRoot) || !Directory.Exists(phaRoot))
            throw new InvalidDataException($"{root} needs {FgrDir}/ and {PhaDir}/ (RVM's layout: fgr/<clip>/ frames, fgr/<clip>.mp4 or fgr/<image>, with the same names under pha/).");
        var pha = Entries(phaRoot).ToDictionary(p => Key(p), StringComparer.Ordinal);
        var result = new List<MatteEntry>();
        var matched = new HashSet<string>(StringComparer.Ordinal);
        foreach (string fgrPath in Entries(fgrRoot))
        {
            string key = Key(fgrPath);
            if (!pha.TryGetValue(key, out string? phaPath))
                throw new InvalidDataException($"{fgrPath} has no alpha: expected {Path.Combine(phaRoot, Path.GetFileName(fgrPath))} (or the same name with another image extension).");
            var fgr = Sequence(fgrPath);
            var alpha = Sequence(phaPath);
            if (fgr.Kind != alpha.Kind) throw new InvalidDataException($"{fgrPath} is a {fgr.Kind.ToString().ToLowerInvariant()} but {phaPath} is a {alpha.Kind.ToString().ToLowerInvariant()}.");
            if (fgr.Kind == SequenceKind.Folder && !fgr.FrameNames!.SequenceEqual(alpha.FrameNames!))
                throw new InvalidDataException($"{fgrPath} and {phaPath} hold different frame names ({fgr.FrameNames!.Count} and {alpha.FrameNames!.Count} frames).");
            result.Add(new MatteEntry(Path.GetFileName(fgrPath), fgr, alpha));
            matched.Add(key);
        }
        foreach (var (key, phaPath) in pha)
            if (!matched.Contains(key)) throw new InvalidDataException($"{phaPath} has no foreground under {fgrRoot}.");
        if (result.Count == 0) throw new InvalidDataException($"{fgrRoot} holds no images, videos or frame folders.");
        return result;
    }

    /// <summary>Every image, video and frame folder directly under <paramref name="root"/>.</summary>
    public static IReadOnlyList<FrameSequence> OpenBackgrounds(string root)
    {
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"Background folder {root} does not exist.");
        var result = Entries(root).Select(Sequence).ToArray();
        if (result.Length == 0) throw new InvalidDataException($"{root} holds no background images, videos or frame folders.");
        return result;
    }

    /// <summary>Files and folders that can be sequences, in ordinal order; other files are ignored (READMEs, licences).</summary>
    private static IEnumerable<string> Entries(string dir) =>
        Directory.GetDirectories(dir)
            .Concat(Directory.GetFiles(dir).Where(f => FrameSequence.IsImage(f) || FrameSequence.IsVideo(f)))
            .OrderBy(p => p, StringComparer.Ordinal);

    private static FrameSequence Sequence(string path) =>
        FrameSequence.TryOpen(path) ?? throw new InvalidDataException($"{path} holds no image frames.");

    /// <summary>A folder or video pairs by its name; an image by its stem (AIM ships fgr .jpg with pha .png).</summary>
    private static string Key(string path) =>
        FrameSequence.IsImage(path) && !Directory.Exists(path) ? "image:" + Path.GetFileNameWithoutExtension(path) : Path.GetFileName(path);
}
