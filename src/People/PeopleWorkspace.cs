using BiVM.Data.Media;
using BiVM.Data.People;
using BiVM.Data.Synthesis;

namespace BiVM.People;

/// <summary>Where data preparation reads and writes, all under the git-ignored .data/ folder (docs/people.md).</summary>
public sealed record PeopleWorkspace(string DataRoot)
{
    /// <summary>The .data folder that holds debian/ (the media locator's root's parent).</summary>
    public static PeopleWorkspace Default() => new(Path.GetDirectoryName(MediaLocator.Default().Root)!);

    public string People => Path.Combine(DataRoot, "people");
    public string TeacherDist => Path.Combine(DataRoot, "npm", PeopleSource.NpmFolder(MediaCatalog.TeacherPackage), "package", "dist");
    public string TeacherModel => Path.Combine(People, "teacher", "isnet-medium.onnx");

    /// <summary>The published RVM as ONNX (scripts/fetch-people.sh: `bivm import`, then `bivm export`), the teacher frames' teacher.</summary>
    public string RvmTeacherModel => Path.Combine(People, "teacher", "rvm-published.onnx");

    /// <summary>The teacher's raw alpha per source photo, named by the photo's SHA-256: a changed photo is re-run, an unchanged one never.</summary>
    public string AlphaCache => Path.Combine(People, "alpha");
    public string Bank => PeopleBank.DirectoryFor(new MediaLocator(Path.Combine(DataRoot, "debian")));
    public string Rejected => Path.Combine(People, "rejected");
    public string ContactSheet => Path.Combine(People, "contact-sheet.png");

    /// <summary>Real frames with the teacher's alpha as their only target (<see cref="TeacherFrames"/>).</summary>
    public string TeacherFrames => BiVM.Data.People.TeacherFrames.DirectoryFor(new MediaLocator(Path.Combine(DataRoot, "debian")));

    /// <summary>Every 10th teacher frame and every photo over stripes, for review.</summary>
    public string TeacherFramesSheet => Path.Combine(People, "teacher-frames-sheet.png");
    public string ValidationSet => Path.Combine(People, DataSets.RealPeopleValidation.Name);
    public string ValidationScores => ValidationSet + ".scores.md";

    public string PathOf(PeopleSource source)
    {
        string path = Path.Combine(DataRoot, source.DataPath);
        if (!File.Exists(path))
            throw new MediaMissingException($"{source.Id} is missing at {path}; run scripts/fetch-people.sh (./install.sh runs it) from the repository root.");
        return path;
    }
}
