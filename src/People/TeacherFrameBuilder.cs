using System.Globalization;
using BiVM.Data.Media;
using BiVM.Data.People;
using OpenCvSharp;

namespace BiVM.People;

/// <summary>
/// Builds the teacher frames (<see cref="TeacherFrames"/>): real frames with no composite, whose only target is
/// the teacher's soft alpha. vtest.avi (pedestrians, real motion) from frame <see cref="FirstVideoFrame"/> on, every
/// <see cref="VideoStride"/>-th frame, and the training photos. The teacher is the published RVM
/// (<see cref="RvmTeacher"/>), run over the whole video in order so its recurrent state follows the street, as RVM is
/// meant to run; version 1 used ISNet, which marked the street's lamp post and road sign in every frame and missed
/// people in dark clothes. A build is about 800 RVM passes at 640x480, 0.15–0.45 s each (two to six minutes); nothing is cached.
/// Built in a fresh folder and swapped in whole.
/// </summary>
public static class TeacherFrameBuilder
{
    /// <summary>Raise when the frame choice, size or alpha handling changes: install.sh then rebuilds the folder.</summary>
    public const int Version = 2;

    /// <summary>
    /// vtest.avi's frames before this one stay unseen by training: the README's comparison picture shows frame 30, and
    /// the clip stays the README's demo. Training sees the same street later on, which the README says.
    /// </summary>
    public const int FirstVideoFrame = 100;

    /// <summary>Every 4th frame (0.4 s at 10 fps): consecutive stored frames still show motion, and a clip of T of them
    /// spans a few seconds of the street.</summary>
    public const int VideoStride = 4;

    /// <summary>The last vtest.avi frame used: its last (the clip has 795).</summary>
    public const int LastVideoFrame = 794;

    /// <summary>Frames are stored at most this wide/high (vtest.avi: 768x576 → 640x480): the clips are 256–512 px wide.</summary>
    public const int LongSide = 640;

    public const string VideoId = "opencv-doc:vtest.avi";

    /// <summary>
    /// Training photos left out of distillation, with the reason: a target must not teach what is not a person as
    /// foreground, nor a person as background (reviewed on the teacher-frames sheet). Validation photos are never used.
    /// Photos with their own alpha (tuxpaint stamps) are cut-outs, not scenes.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Excluded { get; } = new Dictionary<string, string>
    {
    };

    /// <summary>The photos used: training sources that need the teacher and are not <see cref="Excluded"/>.</summary>
    public static IReadOnlyList<PeopleSource> Photos =>
        MediaCatalog.People.Where(p => p.Use == PeopleUse.Training && !p.HasAlpha && !Excluded.ContainsKey(p.Id)).ToArray();

    public static string Stamp() =>
        $"teacher frames v{Version}; teacher RVM (published); {VideoId} from {FirstVideoFrame} to {LastVideoFrame} every {VideoStride}; long side {LongSide}; photos {string.Join(",", Photos.Select(p => p.Id))}";

    public static bool IsStale(PeopleWorkspace workspace)
    {
        return StampedFolder.IsStale(workspace.TeacherFrames, TeacherFrames.ManifestName, Stamp());
    }

    public static IReadOnlyList<TeacherSequence> Build(PeopleWorkspace workspace, RvmTeacher teacher, TextWriter log)
    {
        string building = StampedFolder.Begin(workspace.TeacherFrames);
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
                using var raw = new Mat();
                teacher.Reset();
                // Every frame goes through the teacher (its state follows the video); every VideoStride-th from
                // FirstVideoFrame on is stored.
                for (int index = 0; index <= LastVideoFrame && capture.Read(raw) && !raw.Empty(); index++)
                {
                    using var frame = Shrink(raw);
                    using var alpha = teacher.NextFrame(frame);
                    if ((index + 1) % 200 == 0)
                        log.WriteLine($"people: teacher on {index + 1} vtest frames, {(DateTime.UtcNow - started).TotalSeconds / (index + 1):F2} s each");
                    if (index < FirstVideoFrame || (index - FirstVideoFrame) % VideoStride != 0) continue;
                    string name = $"vtest-{index.ToString("D4", CultureInfo.InvariantCulture)}";
                    BankBuilder.Write(Path.Combine(building, name + ".png"), frame);
                    BankBuilder.Write(Path.Combine(building, name + ".alpha.png"), alpha);
                    frames.Add(name + ".png");
                    alphas.Add(name + ".alpha.png");
                }
            }
            if (frames.Count == 0) throw new InvalidDataException($"{videoPath} has no frame at or after {FirstVideoFrame}.");
            sequences.Add(new TeacherSequence("vtest", VideoId, frames, alphas));
            log.WriteLine($"people: teacher frames: {frames.Count} of {VideoId} (from frame {FirstVideoFrame}, every {VideoStride})");

            foreach (var source in Photos)
            {
                // The whole photo, shrunk as the video is, then the teacher on it as a still.
                string path = workspace.PathOf(source);
                using var photo = Cv2.ImRead(path, ImreadModes.Color);
                if (photo.Empty()) throw new InvalidDataException($"OpenCV could not decode {path}.");
                using var frame = Shrink(photo);
                using var alpha = teacher.Predict(frame);
                string name = source.Id.Replace(':', '-');
                BankBuilder.Write(Path.Combine(building, name + ".png"), frame);
                BankBuilder.Write(Path.Combine(building, name + ".alpha.png"), alpha);
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

    /// <summary>Long side at most <see cref="LongSide"/>, by area averaging.</summary>
    private static Mat Shrink(Mat bgr)
    {
        double scale = Math.Min(1, LongSide / (double)Math.Max(bgr.Width, bgr.Height));
        var result = new Mat();
        if (scale >= 1) bgr.CopyTo(result);
        else Cv2.Resize(bgr, result, new Size((int)Math.Round(bgr.Width * scale), (int)Math.Round(bgr.Height * scale)), 0, 0, InterpolationFlags.Area);
        return result;
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
