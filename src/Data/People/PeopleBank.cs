using System.Collections.Concurrent;
using System.Globalization;
using BiVM.Data.Media;
using OpenCvSharp;

namespace BiVM.Data.People;

/// <summary>
/// One reviewed cut-out of the people bank: a PNG (BGRA) under the bank folder. Its split follows
/// its source's <see cref="PeopleSource.Use"/> in <see cref="MediaCatalog.People"/>, looked up when
/// the bank is read, so moving a source between splits never needs a stale manifest fixed by hand.
/// </summary>
public sealed record CutOut(string Id, string SourceId, string File, int Width, int Height, CutEdges Edges, string SourceSha256)
{
    public PeopleSource Source => MediaCatalog.GetPerson(SourceId);
}

/// <summary>
/// The people bank: real people cut out of photos by the teacher and reviewed
/// (scripts/fetch-people.sh builds it into .data/people/bank/; docs/people.md). Images are decoded
/// once, on first use, and shared read-only by generator threads.
/// </summary>
public sealed class PeopleBank : IDisposable
{
    public const string ManifestName = "bank.tsv";
    private const string Header = "id\tsource\tfile\twidth\theight\tcut_edges\tsource_sha256";
    private const string Hint = "run scripts/fetch-people.sh (./install.sh runs it) from the repository root";

    private readonly ConcurrentDictionary<string, Lazy<Mat>> _images = new();

    private PeopleBank(string directory, IReadOnlyList<CutOut> all)
    {
        Directory = directory;
        All = all;
    }

    public string Directory { get; }
    public IReadOnlyList<CutOut> All { get; }

    /// <summary>The bank folder beside the Debian media: &lt;.data&gt;/people/bank.</summary>
    public static string DirectoryFor(MediaLocator locator) =>
        Path.Combine(Path.GetDirectoryName(locator.Root) ?? locator.Root, "people", "bank");

    /// <summary>Cut-outs a split may use: training gets only training sources, validation only held-out ones (never a trained-on person).</summary>
    public IReadOnlyList<CutOut> For(DataSplit split) =>
        All.Where(c => c.Source.Use == (split == DataSplit.Training ? PeopleUse.Training : PeopleUse.Validation)).ToArray();

    /// <summary>Reads the manifest; throws <see cref="MediaMissingException"/> naming the fix when the bank is absent or incomplete.</summary>
    public static PeopleBank Open(string directory)
    {
        string manifest = Path.Combine(directory, ManifestName);
        if (!File.Exists(manifest)) throw new MediaMissingException($"No people bank at {directory} ({ManifestName} missing); {Hint}.");
        var lines = File.ReadAllLines(manifest);
        if (lines.Length == 0 || lines[0] != Header) throw new InvalidDataException($"{manifest}: the first line must be the header \"{Header}\"; {Hint} to rebuild it.");
        var all = new List<CutOut>();
        for (int i = 1; i < lines.Length; i++)
        {
            var f = lines[i].Split('\t');
            if (f.Length != 7 || !int.TryParse(f[3], CultureInfo.InvariantCulture, out int w) || !int.TryParse(f[4], CultureInfo.InvariantCulture, out int h) || !Enum.TryParse(f[5], out CutEdges edges))
                throw new InvalidDataException($"{manifest}:{i + 1}: expected 7 tab-separated fields ({Header}), got \"{lines[i]}\".");
            var cut = new CutOut(f[0], f[1], f[2], w, h, edges, f[6]);
            _ = cut.Source; // an unknown source throws here, naming the known ones
            if (!File.Exists(Path.Combine(directory, cut.File))) throw new MediaMissingException($"People bank {directory} lacks {cut.File} ({cut.Id}); {Hint}.");
            all.Add(cut);
        }
        return new PeopleBank(directory, all);
    }

    /// <summary>Writes the manifest (the builder's counterpart of <see cref="Open"/>), under a temporary name first.</summary>
    public static void WriteManifest(string directory, IEnumerable<CutOut> cutOuts)
    {
        var lines = new List<string> { Header };
        lines.AddRange(cutOuts.Select(c => string.Join('\t', c.Id, c.SourceId, c.File, c.Width.ToString(CultureInfo.InvariantCulture),
            c.Height.ToString(CultureInfo.InvariantCulture), c.Edges.ToString().Replace(" ", ""), c.SourceSha256)));
        string path = Path.Combine(directory, ManifestName), temp = path + ".tmp";
        File.WriteAllLines(temp, lines);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>The cut-out as CV_8UC4 BGRA. Do not modify or dispose it.</summary>
    public Mat Image(CutOut cut) =>
        _images.GetOrAdd(cut.Id, _ => new Lazy<Mat>(() => Load(cut), LazyThreadSafetyMode.ExecutionAndPublication)).Value;

    private Mat Load(CutOut cut)
    {
        string path = Path.Combine(Directory, cut.File);
        var image = Cv2.ImRead(path, ImreadModes.Unchanged);
        if (image.Empty() || image.Type() != MatType.CV_8UC4)
        {
            string got = image.Empty() ? "nothing decodable" : image.Type().ToString();
            image.Dispose();
            throw new InvalidDataException($"{path} ({cut.Id}) must be an 8-bit BGRA PNG, got {got}; {Hint}.");
        }
        return image;
    }

    public void Preload(IEnumerable<CutOut> cutOuts) => Parallel.ForEach(cutOuts, c => Image(c));

    public void Dispose()
    {
        foreach (var lazy in _images.Values)
            if (lazy.IsValueCreated) lazy.Value.Dispose();
        _images.Clear();
    }
}
