using BiVM.Data.Media;
using BiVM.Data.People;
using BiVM.Data.Synthesis;
using OpenCvSharp;

namespace BiVM.Data.Tests;

/// <summary>
/// Teacher clips (ClipOptions.TeacherFrames): real frames whose only target is the teacher's alpha. The frames here are
/// synthetic (a bright "person" on a dark ground, its alpha the rectangle), in a data folder whose debian/ links to the
/// fetched media, so the test knows where the target must be.
/// </summary>
public sealed class TeacherFramesTests : IDisposable
{
    private readonly string _root;
    private readonly MediaLibrary _library;

    public TeacherFramesTests()
    {
        // The media first: where nothing was fetched it throws, and no temp folder is left behind for a Dispose that never runs.
        string media = MediaLocator.Default().Root;
        _root = Directory.CreateTempSubdirectory("bivm-teacher-frames-").FullName;
        Directory.CreateSymbolicLink(Path.Combine(_root, "debian"), media);
        _library = new MediaLibrary(new MediaLocator(Path.Combine(_root, "debian")));
    }

    public void Dispose()
    {
        _library.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    private static readonly ClipOptions Options = TestMedia.Small with { TeacherFrames = 1, Noise = 0, ColorJitter = 0, Grayscale = 0, Blur = 0 };

    /// <summary>A video of <paramref name="frames"/> frames whose person walks right, and one photo.</summary>
    private string WriteFrames(int frames)
    {
        string folder = TeacherFrames.DirectoryFor(_library.Locator);
        Directory.CreateDirectory(folder);
        var video = new TeacherSequence("walk", "opencv-doc:vtest.avi", [], []);
        var names = new List<string>();
        var alphas = new List<string>();
        for (int i = 0; i <= frames; i++)
        {
            using var frame = new Mat(240, 320, MatType.CV_8UC3, Scalar.All(30));
            using var alpha = new Mat(240, 320, MatType.CV_8UC1, Scalar.All(0));
            var person = new Rect(60 + 10 * i, 40, 80, 160);
            Cv2.Rectangle(frame, person, Scalar.All(240), -1);
            Cv2.Rectangle(alpha, person, Scalar.All(255), -1);
            string name = i < frames ? $"walk-{i}" : "photo";
            Cv2.ImWrite(Path.Combine(folder, name + ".png"), frame);
            Cv2.ImWrite(Path.Combine(folder, name + ".alpha.png"), alpha);
            if (i == frames) continue;   // the last one is the photo
            names.Add(name + ".png");
            alphas.Add(name + ".alpha.png");
        }
        TeacherFrames.WriteManifest(folder, [video with { Frames = names, Alphas = alphas }, new TeacherSequence("photo", "face-api:sample1.jpg", ["photo.png"], ["photo.alpha.png"])]);
        return folder;
    }

    [Fact]
    public void The_manifest_round_trips_and_a_missing_file_is_named()
    {
        string folder = WriteFrames(5);
        using (var frames = TeacherFrames.Open(folder))
        {
            Assert.Equal(["walk", "photo"], frames.Sequences.Select(s => s.Id));
            Assert.Equal(5, frames.Sequences[0].Frames.Count);
            Assert.Equal("walk-3.alpha.png", frames.Sequences[0].Alphas[3]);
            Assert.Equal(255, frames.Alpha(frames.Sequences[0], 0).At<byte>(100, 100));
        }
        File.Delete(Path.Combine(folder, "walk-2.png"));
        var e = Assert.Throws<MediaMissingException>(() => TeacherFrames.Open(folder));
        Assert.Contains("walk-2.png", e.Message);
    }

    [Fact]
    public void Teacher_clips_carry_the_frames_and_the_teachers_alpha_and_nothing_else()
    {
        WriteFrames(6);
        var generator = new ClipGenerator(Options, DataSplit.Training, _library);
        var clips = generator.Stream(seed: 2, startIndex: 0, count: 12).ToArray();
        Assert.Contains(clips, c => c.Description.Contains(" teacher=walk["));
        Assert.Contains(clips, c => c.Description.Contains(" teacher=photo "));
        foreach (var clip in clips)
        {
            Assert.Null(clip.Fgr);
            Assert.Null(clip.Bgr);
            Assert.All(clip.Pha, a => Assert.InRange(a, 0f, 1f));
            // The target lies on the bright person: where the teacher says person the frame is bright, elsewhere dark
            // (bilinear rims excepted), whatever the crop, camera motion and flip did to both.
            int n = clip.PixelsPerFrame, inside = 0;
            for (int t = 0; t < clip.Frames; t++)
                for (int i = 0; i < n; i++)
                {
                    float a = clip.Pha[t * n + i], red = clip.Src[t * 3 * n + i];
                    if (a > 0.99f) { inside++; Assert.True(red > 0.85f, $"{clip.Description}: alpha {a} on a dark pixel {red}"); }
                    if (a < 0.01f) Assert.True(red < 0.2f, $"{clip.Description}: alpha {a} on a bright pixel {red}");
                }
            Assert.True(inside > 0, $"{clip.Description}: the crop shows no person");
        }
        var again = new ClipGenerator(Options, DataSplit.Training, _library).Generate(seed: 2, index: 5);
        Assert.Equal(clips[5].Description, again.Description);
        Assert.Equal(clips[5].Src, again.Src);
    }

    [Fact]
    public void Teacher_clips_are_training_only_and_need_the_prepared_folder()
    {
        var missing = Assert.Throws<MediaMissingException>(() => new ClipGenerator(Options, DataSplit.Training, _library));
        Assert.Contains("fetch-people.sh", missing.Message);
        WriteFrames(3);
        Assert.Throws<ArgumentException>(() => new ClipGenerator(Options, DataSplit.Validation, _library));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ClipGenerator(Options with { TeacherFrames = -0.1 }, DataSplit.Training, _library));
    }
}
