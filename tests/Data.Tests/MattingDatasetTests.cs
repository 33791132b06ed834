using BiVM.Data.IO;
using BiVM.Data.Media;
using BiVM.Data.Synthesis;
using OpenCvSharp;

namespace BiVM.Data.Tests;

/// <summary>Real matting data in RVM's layouts, on small data sets written here in each layout.</summary>
public sealed class MattingDatasetTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("bivm-matting-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Dir(params string[] parts)
    {
        string dir = Path.Combine([_root, .. parts]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Frame t: a red square (alpha 255) moving right by t pixels, on a blue field (alpha 0), 80x60.</summary>
    private static (Mat Fgr, Mat Pha) Frame(int t)
    {
        var fgr = new Mat(60, 80, MatType.CV_8UC3, new Scalar(255, 0, 0));
        var pha = new Mat(60, 80, MatType.CV_8UC1, Scalar.All(0));
        var square = new Rect(20 + t, 15, 30, 30);
        fgr.Rectangle(square, new Scalar(0, 0, 255), -1);
        pha.Rectangle(square, Scalar.All(255), -1);
        return (fgr, pha);
    }

    /// <summary>Writes the three layouts into one data set: frames (clipA), videos (clipB.mkv, lossless FFV1), an image pair (still.png/still.bmp: images pair by stem).</summary>
    private string WriteDataSet()
    {
        string fgrRoot = Dir("set", "fgr"), phaRoot = Dir("set", "pha");
        Dir("set", "fgr", "clipA");
        Dir("set", "pha", "clipA");
        using var fgrVideo = new VideoWriter(Path.Combine(fgrRoot, "clipB.mkv"), FourCC.FromString("FFV1"), 10, new Size(80, 60), isColor: true);
        using var phaVideo = new VideoWriter(Path.Combine(phaRoot, "clipB.mkv"), FourCC.FromString("FFV1"), 10, new Size(80, 60), isColor: false);
        Assert.True(fgrVideo.IsOpened() && phaVideo.IsOpened());
        for (int t = 0; t < 6; t++)
        {
            var (fgr, pha) = Frame(t);
            using (fgr)
            using (pha)
            {
                Cv2.ImWrite(Path.Combine(fgrRoot, "clipA", $"{t:D4}.png"), fgr);
                Cv2.ImWrite(Path.Combine(phaRoot, "clipA", $"{t:D4}.png"), pha);
                fgrVideo.Write(fgr);
                phaVideo.Write(pha);
                if (t == 0)
                {
                    Cv2.ImWrite(Path.Combine(fgrRoot, "still.png"), fgr);
                    Cv2.ImWrite(Path.Combine(phaRoot, "still.bmp"), pha);
                }
            }
        }
        File.WriteAllText(Path.Combine(fgrRoot, "README.txt"), "not a frame");
        return Path.Combine(_root, "set");
    }

    [Fact]
    public void Reads_frame_folders_videos_and_image_pairs()
    {
        string root = WriteDataSet();
        var entries = MattingDataset.Open(root);
        Assert.Equal(["clipA", "clipB.mkv", "still.png"], entries.Select(e => e.Name));
        Assert.Equal([SequenceKind.Folder, SequenceKind.Video, SequenceKind.Image], entries.Select(e => e.Fgr.Kind));
        Assert.Equal([6, 6, 1], entries.Select(e => e.FrameCount));
        foreach (var entry in entries.Take(2))
        {
            var pha = entry.Pha.Read([4, 1], alpha: true);
            var fgr = entry.Fgr.Read([4]);
            Assert.Equal(MatType.CV_8UC1, pha[0].Type());
            Assert.Equal(255, pha[0].At<byte>(20, 20 + 4));   // frame 4's square starts at x = 24
            Assert.Equal(0, pha[0].At<byte>(20, 22));
            Assert.Equal(255, pha[1].At<byte>(20, 22));        // frame 1's covers x = 22
            Assert.True(fgr[0].At<Vec3b>(20, 30).Item2 > 240, $"{entry.Name}: the square is red");
            foreach (var m in pha.Concat(fgr)) m.Dispose();
        }
    }

    [Fact]
    public void Bad_layouts_get_one_line_naming_the_file()
    {
        string root = WriteDataSet();
        File.Delete(Path.Combine(root, "pha", "still.bmp"));
        var missing = Assert.Throws<InvalidDataException>(() => MattingDataset.Open(root));
        Assert.Contains("still.png has no alpha", missing.Message);

        Cv2.ImWrite(Path.Combine(root, "pha", "still.bmp"), new Mat(60, 80, MatType.CV_8UC1, Scalar.All(0)));
        Cv2.ImWrite(Path.Combine(root, "pha", "orphan.png"), new Mat(60, 80, MatType.CV_8UC1, Scalar.All(0)));
        var orphan = Assert.Throws<InvalidDataException>(() => MattingDataset.Open(root));
        Assert.Contains("orphan.png has no foreground", orphan.Message);
        File.Delete(Path.Combine(root, "pha", "orphan.png"));

        File.Move(Path.Combine(root, "pha", "clipA", "0005.png"), Path.Combine(root, "pha", "clipA", "0006.png"));
        var names = Assert.Throws<InvalidDataException>(() => MattingDataset.Open(root));
        Assert.Contains("different frame names", names.Message);

        Assert.Throws<InvalidDataException>(() => MattingDataset.Open(Dir("empty")));
        Assert.Throws<DirectoryNotFoundException>(() => MattingDataset.Open(Path.Combine(_root, "nowhere")));
    }

    [Fact]
    public void Generator_composites_data_set_mattes_over_folder_backgrounds()
    {
        string root = WriteDataSet();
        string backgrounds = Dir("backgrounds");
        Cv2.ImWrite(Path.Combine(backgrounds, "grey.png"), new Mat(90, 160, MatType.CV_8UC3, Scalar.All(128)));
        Directory.CreateDirectory(Path.Combine(backgrounds, "frames"));
        for (int t = 0; t < 8; t++) Cv2.ImWrite(Path.Combine(backgrounds, "frames", $"{t:D3}.jpg"), new Mat(90, 160, MatType.CV_8UC3, Scalar.All(20 * t)));
        // Photometric augmentation off, so the square's colour can be checked.
        var options = TestMedia.Small with
        {
            MatteData = root, MatteForegrounds = 1, BackgroundData = backgrounds,
            Noise = 0, ColorJitter = 0, Grayscale = 0, Sharpen = 0, Blur = 0,
        };
        var generator = new ClipGenerator(options, DataSplit.Training);
        var clips = generator.Stream(seed: 11, startIndex: 0, count: 6).ToArray();
        Assert.Equal(clips[3].Src, generator.Generate(11, 3).Src); // deterministic per (seed, index)
        foreach (var clip in clips)
        {
            Assert.Matches(@" matte=(clipA|clipB\.mkv|still\.png)", clip.Description);
            Assert.Matches(@" background=(grey\.png|frames\[)", clip.Description);
            Assert.All(clip.Pha, a => Assert.InRange(a, 0f, 1f));
            Assert.Contains(clip.Pha, a => a == 1f);
            int n = clip.PixelsPerFrame;
            for (int i = 0; i < clip.Pha.Length; i++)
            {
                int t = i / n, p = i % n;
                if (clip.Pha[i] < 1f) continue;
                Assert.True(clip.Fgr![(t * 3) * n + p] > 0.9f && clip.Fgr[(t * 3 + 2) * n + p] < 0.1f, $"{clip.Description}: opaque pixels are the red square");
                Assert.Equal(clip.Fgr[(t * 3) * n + p], clip.Src[(t * 3) * n + p]);
            }
        }
        Assert.Contains(clips, c => c.Description.Contains("background=frames["));
        Assert.Contains(clips, c => c.Description.Contains("background=grey.png"));
        Assert.Throws<ArgumentException>(() => new ClipGenerator(TestMedia.Small with { MatteForegrounds = 0.5 }, DataSplit.Training));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ClipGenerator(options with { RealPeople = 0.6, MatteForegrounds = 0.6 }, DataSplit.Training));
    }
}
