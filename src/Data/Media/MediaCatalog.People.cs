using System.Text;

namespace BiVM.Data.Media;

/// <summary>Which split a real-people source feeds: training, or the real-people validation set only.</summary>
public enum PeopleUse
{
    Training,
    Validation,
}

/// <summary>
/// One photo of real people for the people bank (docs/media.md, "People"). <paramref name="Origin"/>
/// is "debian" (unpacked by scripts/fetch-media.sh into .data/debian/&lt;package&gt;/) or "npm"
/// (unpacked by scripts/fetch-people.sh into .data/npm/&lt;package folder&gt;/package/).
/// <paramref name="HasAlpha"/>: the file is already a cut-out with a real alpha channel (no teacher).
/// </summary>
public sealed record PeopleSource(string Origin, string Package, string PathInPackage, string Licence, PeopleUse Use, bool HasAlpha, string Description)
{
    /// <summary>Short unique name, e.g. "face-api:sample1.jpg"; cut-out ids and clip descriptions use it.</summary>
    public string Id => $"{ShortPackage}:{Path.GetFileName(PathInPackage)}";

    private string ShortPackage => Origin == "npm" ? Package[(Package.IndexOf('/') + 1)..] : Package;

    /// <summary>Path relative to .data/.</summary>
    public string DataPath => Origin == "npm"
        ? Path.Combine("npm", NpmFolder(Package), "package", PathInPackage)
        : Path.Combine("debian", Package, PathInPackage);

    /// <summary>The folder scripts/fetch-people.sh unpacks an npm package into: "@scope/name" → "scope-name".</summary>
    public static string NpmFolder(string package) => package.TrimStart('@').Replace('/', '-');
}

public static partial class MediaCatalog
{
    private const string FaceApi = "@vladmandic/face-api";
    private const string OpenCvHtml = "usr/share/doc/opencv-doc/opencv4/html/";
    private const string Stamps = "usr/share/tuxpaint/stamps/";

    /// <summary>
    /// Photos of real people the people bank cuts out (scripts/fetch-people.sh). The split is by
    /// source: no person of a validation photo is ever trained on. Reserved real-people media
    /// (<see cref="MediaUse.ReservedRealPeople"/>, python-matplotlib-data, labelme-examples) are not here
    /// and never will be: they stay for evaluation. vtest.avi stays reserved as the README's demo clip.
    /// </summary>
    public static IReadOnlyList<PeopleSource> People { get; } =
    [
        Npm(FaceApi, "demo/sample1.jpg", PeopleUse.Training, "three women, upper body, party make-up"),
        Npm(FaceApi, "demo/sample2.jpg", PeopleUse.Training, "three women sitting on a sofa"),
        Npm(FaceApi, "demo/sample3.jpg", PeopleUse.Training, "three women on an armchair"),
        Npm(FaceApi, "demo/sample4.jpg", PeopleUse.Training, "four women standing, arms around each other"),
        Npm(FaceApi, "demo/sample5.jpg", PeopleUse.Validation, "five women sitting"),
        Npm(FaceApi, "demo/sample6.jpg", PeopleUse.Validation, "four women standing"),
        new("debian", "darknet", DarknetData + "person.jpg", DarknetLicence, PeopleUse.Training, false, "woman with a dog and a horse"),
        new("debian", "darknet", DarknetData + "kite.jpg", DarknetLicence, PeopleUse.Training, false, "two people flying kites on a beach, small"),
        new("debian", "opencv-doc", OpenCvHtml + "227943776_1.jpg", OpenCvLicence, PeopleUse.Training, false, "portrait (face-swap tutorial)"),
        new("debian", "opencv-doc", OpenCvHtml + "230501201_1.jpg", OpenCvLicence, PeopleUse.Validation, false, "portrait (face-swap tutorial)"),
        new("debian", "tuxpaint-stamps-default", Stamps + "people/fireman200b.png", TuxPaintLicence, PeopleUse.Training, true, "firefighter, photo cut-out"),
        new("debian", "tuxpaint-stamps-default", Stamps + "people/fireman240a.png", TuxPaintLicence, PeopleUse.Training, true, "firefighter, photo cut-out"),
        new("debian", "tuxpaint-stamps-default", Stamps + "military/paratrooper.png", TuxPaintLicence, PeopleUse.Training, true, "paratrooper, photo cut-out"),
    ];

    private const string TuxPaintLicence = "GPL-2+";

    /// <summary>npm packages scripts/fetch-people.sh fetches, with their pinned versions.</summary>
    public static IReadOnlyDictionary<string, string> NpmPackages { get; } = new Dictionary<string, string>
    {
        [FaceApi] = "1.7.15",
        [TeacherPackage] = "1.4.5",
    };

    /// <summary>The teacher's npm package: ISNet (DIS, MIT) as shipped by IMG.LY (package AGPL-3.0). Data preparation only.</summary>
    public const string TeacherPackage = "@imgly/background-removal-data";

    public static PeopleSource GetPerson(string id) =>
        People.FirstOrDefault(p => p.Id == id)
        ?? throw new ArgumentException($"No people source '{id}'; known ids: {string.Join(", ", People.Select(p => p.Id))}", nameof(id));

    /// <summary>The people table of docs/media.md.</summary>
    public static string FormatPeopleManifest()
    {
        var sb = new StringBuilder();
        sb.AppendLine("| id | file | package | licence | alpha | use | shows |");
        sb.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var p in People)
        {
            string package = p.Origin == "npm" ? $"npm {p.Package} {NpmPackages[p.Package]}" : $"Debian {p.Package}";
            string use = p.Use == PeopleUse.Training ? "training" : "real-people validation only";
            sb.AppendLine($"| {p.Id} | `{p.PathInPackage}` | {package} | {p.Licence} | {(p.HasAlpha ? "own alpha channel" : "teacher")} | {use} | {p.Description} |");
        }
        return sb.ToString();
    }

    private static PeopleSource Npm(string package, string path, PeopleUse use, string description) =>
        new("npm", package, path, "MIT (photos by the author, Vladimir Mandic)", use, false, description);
}
