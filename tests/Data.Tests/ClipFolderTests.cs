using BiVM.Contracts;
using BiVM.Data.IO;
using BiVM.Data.Synthesis;

namespace BiVM.Data.Tests;

public sealed class ClipFolderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bivm-clipfolder-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Round_trip_quantizes_to_8_bit_and_then_is_exact()
    {
        var clip = TestMedia.Clips[0];
        string dir = Path.Combine(_dir, "clip");
        ClipFolder.Write(clip, dir);
        Assert.True(File.Exists(Path.Combine(dir, "src", "0000.png")));
        Assert.True(File.Exists(Path.Combine(dir, "pha", $"{clip.Frames - 1:D4}.png")));

        var read = ClipFolder.Read(dir);
        Assert.Equal((clip.Frames, clip.Height, clip.Width), (read.Frames, read.Height, read.Width));
        Assert.Equal(clip.Description, read.Description);
        foreach (var (a, b) in new[] { (clip.Src, read.Src), (clip.Pha, read.Pha), (clip.Fgr!, read.Fgr!), (clip.Bgr!, read.Bgr!) })
            for (int i = 0; i < a.Length; i++)
                Assert.True(Math.Abs(a[i] - b[i]) <= 0.5f / 255 + 1e-6f, $"value {i}: wrote {a[i]}, read {b[i]}");

        // Once quantized, writing and reading again changes nothing.
        string again = Path.Combine(_dir, "again");
        ClipFolder.Write(read, again);
        var reread = ClipFolder.Read(again);
        Assert.Equal(read.Src, reread.Src);
        Assert.Equal(read.Pha, reread.Pha);
        Assert.Equal(read.Fgr, reread.Fgr);
    }

    [Fact]
    public void A_folder_of_clip_folders_is_read_in_name_order()
    {
        ClipFolder.Write(TestMedia.Clips[1], Path.Combine(_dir, "b"));
        ClipFolder.Write(TestMedia.Clips[0], Path.Combine(_dir, "a"));
        var clips = ClipFolder.ReadAll(_dir).ToArray();
        Assert.Equal(2, clips.Length);
        Assert.Equal(TestMedia.Clips[0].Description, clips[0].Description);
        Assert.Equal(TestMedia.Clips[1].Description, clips[1].Description);

        string set = Path.Combine(_dir, "set");
        Assert.Equal(3, ClipFolder.WriteAll(TestMedia.Clips.Take(3), set));
        Assert.Equal(["0000", "0001", "0002"], ClipFolder.ClipDirectories(set).Select(Path.GetFileName));
        Assert.Equal(TestMedia.Clips[2].Description, ClipFolder.ReadAll(set).Last().Description);
    }

    [Fact]
    public void Mismatched_frames_are_reported_with_the_file()
    {
        string dir = Path.Combine(_dir, "broken");
        ClipFolder.Write(TestMedia.Clips[0], dir);
        File.Delete(Path.Combine(dir, "pha", "0003.png"));
        var ex = Assert.Throws<UserInputException>(() => ClipFolder.Read(dir));
        Assert.Contains("0003.png", ex.Message);
        Assert.Contains("pha", ex.Message);
    }

    [Fact]
    public void A_frame_of_another_size_is_reported_with_both_sizes()
    {
        string dir = Path.Combine(_dir, "sizes");
        ClipFolder.Write(TestMedia.Clips[0], dir);
        using (var small = new OpenCvSharp.Mat(10, 12, OpenCvSharp.MatType.CV_8UC1, OpenCvSharp.Scalar.All(0)))
            OpenCvSharp.Cv2.ImWrite(Path.Combine(dir, "pha", "0002.png"), small);
        var ex = Assert.Throws<UserInputException>(() => ClipFolder.Read(dir));
        Assert.Contains("0002.png is 12x10", ex.Message);
        Assert.Contains("96x64", ex.Message);
    }

    [Fact]
    public void Writing_a_NaN_names_the_frame_and_pixel()
    {
        var pha = new float[2 * 4 * 5];
        pha[1 * 20 + 2 * 5 + 3] = float.NaN; // frame 1, y 2, x 3
        var clip = new Clip(2, 4, 5, new float[2 * 3 * 20], pha);
        var ex = Assert.Throws<InvalidDataException>(() => ClipFolder.Write(clip, Path.Combine(_dir, "nan")));
        Assert.Contains("Frame 1 of pha/", ex.Message);
        Assert.Contains("y 2, x 3", ex.Message);
    }

    [Fact]
    public void Clip_shapes_are_checked_with_the_expected_size()
    {
        var ex = Assert.Throws<ArgumentException>(() => new Clip(2, 4, 5, new float[2 * 3 * 20], new float[39]));
        Assert.Contains("[T=2,1,H=4,W=5] needs 40", ex.Message);
    }

    [Fact]
    public void A_folder_without_clips_says_what_it_needs()
    {
        var ex = Assert.Throws<UserInputException>(() => ClipFolder.ClipDirectories(_dir));
        Assert.Contains("src/", ex.Message);
        Assert.Contains("pha/", ex.Message);
    }
}
