using System.Collections.Concurrent;
using BiVM.Data.Media;
using OpenCvSharp;

namespace BiVM.Data.People;

/// <summary>
/// A run of real frames with the teacher's soft alpha on each: consecutive video frames (a stride of the
/// source's frames) or one photo. <see cref="Frames"/> and <see cref="Alphas"/> are file names under the
/// folder, in order; frame i's target is alpha i.
/// </summary>
public sealed record TeacherSequence(string Id, string SourceId, IReadOnlyList<string> Frames, IReadOnlyList<string> Alphas);

/// <summary>
/// Real frames where no composite exists (vtest.avi's pedestrians, the crowded training photos) with the
/// teacher's soft alpha as their only target (docs/people.md, "Distillation on real frames"). There is no
/// foreground colour and no background: a clip made from them supervises alpha alone, weighted by the
/// trainer's λ_teacher. Built by `bivm-people prepare` into .data/people/teacher-frames/ (frames.tsv with
/// the PNGs); images are decoded once, on first use, and shared read-only by generator threads.
/// </summary>
public sealed class TeacherFrames : IDisposable
{
    public const string ManifestName = "frames.tsv";
    private const string Header = "sequence\tsource\tframe\talpha";
    private const string Hint = "run scripts/fetch-people.sh (./install.sh runs it) from the repository root";

    private readonly ConcurrentDictionary<string, Lazy<Mat>> _images = new();

    private TeacherFrames(string directory, IReadOnlyList<TeacherSequence> sequences)
    {
        Directory = directory;
        Sequences = sequences;
    }

    public string Directory { get; }

    /// <summary>The sequences in manifest order (training sources only: the builder never writes a validation source).</summary>
    public IReadOnlyList<TeacherSequence> Sequences { get; }

    /// <summary>The folder beside the people bank: &lt;.data&gt;/people/teacher-frames.</summary>
    public static string DirectoryFor(MediaLocator locator) =>
        Path.Combine(Path.GetDirectoryName(locator.Root) ?? locator.Root, "people", "teacher-frames");

    /// <summary>Reads the manifest; throws <see cref="MediaMissingException"/> naming the fix when the folder is absent or incomplete.</summary>
    public static TeacherFrames Open(string directory)
    {
        string manifest = Path.Combine(directory, ManifestName);
        if (!File.Exists(manifest)) throw new MediaMissingException($"No teacher frames at {directory} ({ManifestName} missing); {Hint}.");
        var lines = File.ReadAllLines(manifest);
        if (lines.Length == 0 || lines[0] != Header) throw new InvalidDataException($"{manifest}: the first line must be the header \"{Header}\"; {Hint} to rebuild it.");
        var order = new List<string>();
        var rows = new Dictionary<string, (string Source, List<string> Frames, List<string> Alphas)>();
        for (int i = 1; i < lines.Length; i++)
        {
            var f = lines[i].Split('\t');
            if (f.Length != 4) throw new InvalidDataException($"{manifest}:{i + 1}: expected 4 tab-separated fields ({Header}), got \"{lines[i]}\".");
            foreach (string file in f[2..])
                if (!File.Exists(Path.Combine(directory, file))) throw new MediaMissingException($"Teacher frames {directory} lack {file}; {Hint}.");
            if (!rows.TryGetValue(f[0], out var row))
            {
                rows[f[0]] = row = (f[1], [], []);
                order.Add(f[0]);
            }
            else if (row.Source != f[1]) throw new InvalidDataException($"{manifest}:{i + 1}: sequence {f[0]} changes source from {row.Source} to {f[1]}.");
            row.Frames.Add(f[2]);
            row.Alphas.Add(f[3]);
        }
        if (order.Count == 0) throw new MediaMissingException($"Teacher frames {directory}: {ManifestName} lists no frames; {Hint}.");
        return new TeacherFrames(directory, order.Select(id => new TeacherSequence(id, rows[id].Source, rows[id].Frames, rows[id].Alphas)).ToArray());
    }

    /// <summary>Writes the manifest (the builder's counterpart of <see cref="Open"/>), under a temporary name first.</summary>
    public static void WriteManifest(string directory, IEnumerable<TeacherSequence> sequences)
    {
        var lines = new List<string> { Header };
        foreach (var s in sequences)
        {
            if (s.Frames.Count != s.Alphas.Count || s.Frames.Count == 0)
                throw new ArgumentException($"sequence {s.Id}: {s.Frames.Count} frames and {s.Alphas.Count} alphas; each frame needs one alpha.", nameof(sequences));
            for (int i = 0; i < s.Frames.Count; i++) lines.Add(string.Join('\t', s.Id, s.SourceId, s.Frames[i], s.Alphas[i]));
        }
        string path = Path.Combine(directory, ManifestName), temp = path + ".tmp";
        File.WriteAllLines(temp, lines);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Frame <paramref name="i"/> of <paramref name="sequence"/>, CV_8UC3 BGR. Do not modify or dispose it.</summary>
    public Mat Frame(TeacherSequence sequence, int i) => Load(sequence.Frames[i], ImreadModes.Color, MatType.CV_8UC3);

    /// <summary>The teacher's alpha of frame <paramref name="i"/>, CV_8UC1 of the frame's size. Do not modify or dispose it.</summary>
    public Mat Alpha(TeacherSequence sequence, int i)
    {
        var alpha = Load(sequence.Alphas[i], ImreadModes.Grayscale, MatType.CV_8UC1);
        var frame = Frame(sequence, i);
        if (alpha.Size() != frame.Size())
            throw new InvalidDataException($"{Path.Combine(Directory, sequence.Alphas[i])} is {alpha.Width}x{alpha.Height} but its frame is {frame.Width}x{frame.Height}; {Hint}.");
        return alpha;
    }

    private Mat Load(string file, ImreadModes mode, MatType expected) =>
        _images.GetOrAdd(file, f => new Lazy<Mat>(() =>
        {
            string path = Path.Combine(Directory, f);
            var image = Cv2.ImRead(path, mode);
            if (image.Empty() || image.Type() != expected)
            {
                image.Dispose();
                throw new InvalidDataException($"{path} is not a decodable {expected} image; {Hint}.");
            }
            return image;
        }, LazyThreadSafetyMode.ExecutionAndPublication)).Value;

    public void Dispose()
    {
        foreach (var lazy in _images.Values)
            if (lazy.IsValueCreated) lazy.Value.Dispose();
        _images.Clear();
    }
}
