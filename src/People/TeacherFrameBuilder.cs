using System.Globalization;
using System.Security.Cryptography;
using BiVM.Data.Media;
using BiVM.Data.People;
using OpenCvSharp;

namespace BiVM.People;

/// <summary>
/// Builds the teacher frames (<see cref="TeacherFrames"/>): real frames with no composite, whose only target is
/// the teacher's soft alpha. vtest.avi (pedestrians, real motion) from frame <see cref="FirstVideoFrame"/> on, every
/// <see cref="VideoStride"/>-th frame, and the crowded training photos whose whole-photo alpha marks people only.
/// Raw teacher alphas are cached under .data/people/alpha by the SHA-256 of the frame's pixels, so a rebuild after
/// an interruption runs the teacher only on frames it has not seen. Built in a fresh folder and swapped in whole.
/// </summary>
public static class TeacherFrameBuilder
{
    /// <summary>Raise when the frame choice, size or alpha handling changes: install.sh then rebuilds the folder.</summary>
    public const int Version = 1;

    /// <summary>
    /// vtest.avi's frames before this one stay unseen by training: the README's comparison picture shows frame 30, and
    /// the clip stays the README's demo. Training sees the same street later on, which the README says.
    /// </summary>
    public const int FirstVideoFrame = 100;

    /// <summary>
    /// Every 8th frame (0.8 s at 10 fps) up to <see cref="LastVideoFrame"/>: 20 teacher passes, under a minute idle, a
    /// quarter of an hour on the loaded shared host (the teacher took 30–60 s a frame there while five engineers built).
    /// </summary>
    public const int VideoStride = 8;

    /// <summary>The last vtest.avi frame used (of 795): the budget of teacher passes, not a property of the clip.</summary>
    public const int LastVideoFrame = 259;

    /// <summary>Frames are stored at most this wide/high (vtest.avi: 768x576 → 640x480): the clips are 256–512 px wide.</summary>
    public const int LongSide = 640;

    public const string VideoId = "opencv-doc:vtest.avi";

    /// <summary>
    /// Training photos left out of distillation, with the reason: on the whole photo the teacher also marks things that
    /// are not people, and a target must not teach those as foreground (the bank removes them by review, per cut-out).
    /// Validation photos are never used. Photos with their own alpha (tuxpaint stamps) are cut-outs, not scenes.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Excluded { get; } = new Dictionary<string, string>
    {
        ["face-api:sample3.jpg"] = "ISNet keeps the leather armchair and a glass as foreground",
        ["darknet:person.jpg"] = "ISNet keeps the horse as foreground",
        ["darknet:kite.jpg"] = "ISNet keeps the surf and misses the two people",
    };

    /// <summary>The photos used: training sources that need the teacher and are not <see cref="Excluded"/>.</summary>
    public static IReadOnlyList<PeopleSource> Photos =>
        MediaCatalog.People.Where(p => p.Use == PeopleUse.Training && !p.HasAlpha && !Excluded.ContainsKey(p.Id)).ToArray();

    public static string Stamp() =>
        $"teacher frames v{Version}; {VideoId} from {FirstVideoFrame} to {LastVideoFrame} every {VideoStride}; static salient objects removed; long side {LongSide}; photos {string.Join(",", Photos.Select(p => p.Id))}";

    public static bool IsStale(PeopleWorkspace workspace)
    {
        return StampedFolder.IsStale(workspace.TeacherFrames, TeacherFrames.ManifestName, Stamp());
    }

    /// <param name="teacher">Created on first use: a fully cached run never loads the 88 MB model.</param>
    public static IReadOnlyList<TeacherSequence> Build(PeopleWorkspace workspace, Func<IsNetTeacher> teacher, TextWriter log)
    {
        string building = StampedFolder.Begin(workspace.TeacherFrames);
        Directory.CreateDirectory(workspace.AlphaCache);
        var sequences = new List<TeacherSequence>();
        var sheet = new List<(string Label, Mat Image, bool Rejected)>();
        try
        {
            var video = MediaCatalog.Get(VideoId);
            string videoPath = new MediaLocator(Path.Combine(workspace.DataRoot, "debian")).PathOf(video);
            var frames = new List<string>();
            var alphas = new List<string>();
            using (var capture = new VideoCapture(videoPath))
            {
                if (!capture.IsOpened()) throw new InvalidDataException($"OpenCV could not open {videoPath}.");
                var started = DateTime.UtcNow;
                int taught = 0;
                using var raw = new Mat();
                for (int index = 0; index <= LastVideoFrame && capture.Read(raw) && !raw.Empty(); index++)
                {
                    if (index < FirstVideoFrame || (index - FirstVideoFrame) % VideoStride != 0) continue;
                    string name = $"vtest-{index.ToString("D4", CultureInfo.InvariantCulture)}";
                    using var frame = Shrink(raw);
                    bool ran = AddFrame(workspace, building, name, frame, teacher, frames, alphas);
                    if (ran && ++taught % 20 == 0)
                        log.WriteLine($"people: teacher on {taught} vtest frames, {(DateTime.UtcNow - started).TotalSeconds / taught:F1} s each");
                }
            }
            if (frames.Count == 0) throw new InvalidDataException($"{videoPath} has no frame at or after {FirstVideoFrame}.");
            RemoveStaticSalience(building, alphas);
            sequences.Add(new TeacherSequence("vtest", VideoId, frames, alphas));
            log.WriteLine($"people: teacher frames: {frames.Count} of {VideoId} (from frame {FirstVideoFrame}, every {VideoStride})");

            foreach (var source in Photos)
            {
                // The bank's own teacher pass on the whole photo (cached by the file's hash), shrunk with the photo.
                string path = workspace.PathOf(source);
                using var photo = Cv2.ImRead(path, ImreadModes.Color);
                if (photo.Empty()) throw new InvalidDataException($"OpenCV could not decode {path}.");
                string sha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));
                string cached = Path.Combine(workspace.AlphaCache, sha + ".png");
                using var alpha = File.Exists(cached) ? Cv2.ImRead(cached, ImreadModes.Grayscale) : teacher().Predict(photo);
                if (alpha.Size() != photo.Size()) throw new InvalidDataException($"{cached} is {alpha.Size()}, its photo {path} is {photo.Size()}; delete the cache file.");
                using var frame = Shrink(photo);
                using var shrunk = Shrink(alpha);
                string name = source.Id.Replace(':', '-');
                BankBuilder.Write(Path.Combine(building, name + ".png"), frame);
                BankBuilder.Write(Path.Combine(building, name + ".alpha.png"), shrunk);
                sequences.Add(new TeacherSequence(source.Id, source.Id, [name + ".png"], [name + ".alpha.png"]));
            }
            // The review sheet shows the targets as training reads them: every 5th video frame, every photo.
            foreach (var sequence in sequences)
                for (int k = 0; k < sequence.Frames.Count; k += 5)
                    sheet.Add((Path.GetFileNameWithoutExtension(sequence.Frames[k]), Overlay(building, sequence.Frames[k], sequence.Alphas[k]), false));
            TeacherFrames.WriteManifest(building, sequences);
            ContactSheet.Write(workspace.TeacherFramesSheet, sheet);
        }
        finally
        {
            foreach (var s in sheet) s.Image.Dispose();
        }
        StampedFolder.Commit(building, workspace.TeacherFrames, Stamp());
        log.WriteLine($"people: teacher frames {workspace.TeacherFrames}: {sequences.Count} sequences, {sequences.Sum(s => s.Frames.Count)} frames; review {workspace.TeacherFramesSheet}");
        return sequences;
    }

    /// <summary>
    /// ISNet is a salient-object model: on vtest.avi it marks the lamp post, the road sign, the tripod and a yellow
    /// bag in every frame, as foreground. They never move and the people do, so the per-pixel median of the teacher's
    /// alpha over the sequence is the static objects alone; each frame's target becomes max(0, α − median). A person
    /// passing in front of the post loses those pixels (a rare, small hole); people the teacher missed stay missed.
    /// </summary>
    private static void RemoveStaticSalience(string folder, IReadOnlyList<string> alphas)
    {
        var images = alphas.Select(a => Cv2.ImRead(Path.Combine(folder, a), ImreadModes.Grayscale)).ToArray();
        try
        {
            int n = images[0].Rows * images[0].Cols;
            var median = new byte[n];
            var column = new byte[images.Length];
            var planes = images.Select(i => i.AsSpan<byte>().ToArray()).ToArray();
            for (int p = 0; p < n; p++)
            {
                for (int k = 0; k < planes.Length; k++) column[k] = planes[k][p];
                Array.Sort(column);
                median[p] = column[column.Length / 2];
            }
            for (int k = 0; k < images.Length; k++)
            {
                var pixels = images[k].AsSpan<byte>();
                for (int p = 0; p < n; p++) pixels[p] = (byte)Math.Max(0, pixels[p] - median[p]);
                BankBuilder.Write(Path.Combine(folder, alphas[k]), images[k]);
            }
        }
        finally
        {
            foreach (var i in images) i.Dispose();
        }
    }

    /// <summary>Long side at most <see cref="LongSide"/>, by area averaging.</summary>
    private static Mat Shrink(Mat bgr)
    {
        double scale = Math.Min(1, LongSide / (double)Math.Max(bgr.Width, bgr.Height));
        var result = new Mat();
        if (scale >= 1) bgr.CopyTo(result);
        else Cv2.Resize(bgr, result, new Size((int)Math.Round(bgr.Width * scale), (int)Math.Round(bgr.Height * scale)), 0, 0, InterpolationFlags.Area);
        return result;
    }

    /// <summary>Writes the frame and its raw teacher alpha (cached by the frame's pixels); true when the teacher ran.</summary>
    private static bool AddFrame(PeopleWorkspace workspace, string folder, string name, Mat frame, Func<IsNetTeacher> teacher,
        List<string> frames, List<string> alphas)
    {
        string sha = Convert.ToHexStringLower(SHA256.HashData(frame.AsSpan<byte>()));
        string cached = Path.Combine(workspace.AlphaCache, $"frame-{sha}.png");
        bool ran = false;
        Mat alpha;
        if (File.Exists(cached))
        {
            alpha = Cv2.ImRead(cached, ImreadModes.Grayscale);
            if (alpha.Size() != frame.Size()) throw new InvalidDataException($"{cached} is {alpha.Size()}, its frame {name} is {frame.Size()}; delete the cache file.");
        }
        else
        {
            alpha = teacher().Predict(frame);
            BankBuilder.Write(cached, alpha);
            ran = true;
        }
        using (alpha)
        {
            BankBuilder.Write(Path.Combine(folder, name + ".png"), frame);
            BankBuilder.Write(Path.Combine(folder, name + ".alpha.png"), alpha);
            frames.Add(name + ".png");
            alphas.Add(name + ".alpha.png");
        }
        return ran;
    }

    /// <summary>The frame with its target as the alpha channel (BGRA), for the contact sheet's stripes.</summary>
    private static Mat Overlay(string folder, string frameFile, string alphaFile)
    {
        using var frame = Cv2.ImRead(Path.Combine(folder, frameFile), ImreadModes.Color);
        using var alpha = Cv2.ImRead(Path.Combine(folder, alphaFile), ImreadModes.Grayscale);
        var channels = Cv2.Split(frame);
        try
        {
            var bgra = new Mat();
            Cv2.Merge([.. channels, alpha], bgra);
            return bgra;
        }
        finally
        {
            foreach (var c in channels) c.Dispose();
        }
    }
}
