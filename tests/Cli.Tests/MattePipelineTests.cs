using BiVM.Tests.Shared;
using OpenCvSharp;

namespace BiVM.Cli.Tests;

/// <summary>
/// <c>bivm matte --pipeline</c> (<see cref="BiVM.Estimators.Video.PipelinedVideoMatter"/> as the model stage) with
/// the shipped model: the same alpha as frame by frame for a video and for a folder of images whose size changes
/// (a new stream at each change), and a model that cannot be cut refused in one line; the pipeline chosen by itself for
/// a small video on two threads (not with --no-pipeline, one thread, or a model that cannot be cut).
/// </summary>
public sealed class MattePipelineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bivm-matte-pipeline-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Mat Frame(int t, int width, int height)
    {
        var frame = new Mat(height, width, MatType.CV_8UC3, new Scalar(60, 170, 90));   // BGR
        Cv2.Circle(frame, new Point(width / 3 + 4 * t, height / 2), height / 4, new Scalar(40, 60, 220), -1);
        Cv2.Rectangle(frame, new Rect(width / 2, height / 3, width / 6, height / 2), new Scalar(230, 220, 210), -1);
        return frame;
    }

    private string WriteVideo(string name, int frames, int width, int height)
    {
        string path = Path.Combine(_dir, name);
        using var writer = new VideoWriter(path, VideoWriter.FourCC('F', 'F', 'V', '1'), 10, new Size(width, height));
        for (int t = 0; t < frames; t++)
        {
            using var frame = Frame(t, width, height);
            writer.Write(frame);
        }
        return path;
    }

    private static List<Mat> ReadGrey(string path)
    {
        using var capture = new VideoCapture(path);
        var frames = new List<Mat>();
        while (true)
        {
            var m = new Mat();
            if (!capture.Read(m) || m.Empty()) { m.Dispose(); break; }
            var grey = new Mat();
            Cv2.CvtColor(m, grey, ColorConversionCodes.BGR2GRAY);
            m.Dispose();
            frames.Add(grey);
        }
        return frames;
    }

    /// <summary>
    /// The largest difference between two 8-bit alpha frames: the stages are the whole model's nodes, but ONNX
    /// Runtime optimises each stage on its own, so a value may round the other way on another CPU (one level).
    /// </summary>
    private static double MaxDifference(Mat a, Mat b)
    {
        Assert.Equal(a.Size(), b.Size());
        using var difference = new Mat();
        Cv2.Absdiff(a, b, difference);
        Cv2.MinMaxLoc(difference, out _, out double max);
        return max;
    }

    [Fact]
    public void A_video_gets_the_alpha_it_gets_frame_by_frame()
    {
        string input = WriteVideo("in.mkv", frames: 9, width: 128, height: 72);
        string plain = Path.Combine(_dir, "plain.mkv"), piped = Path.Combine(_dir, "piped.mkv");
        var a = CliRunner.Run("matte", input, "--out", Path.Combine(_dir, "c1.mkv"), "--alpha", plain, "--threads", "2");
        var b = CliRunner.Run("matte", input, "--out", Path.Combine(_dir, "c2.mkv"), "--alpha", piped, "--threads", "2", "--pipeline");
        Assert.True(a.Code == 0, a.Err);
        Assert.True(b.Code == 0, b.Err);
        Assert.Contains("matted 9 frame(s)", b.Out);
        var expected = ReadGrey(plain);
        var actual = ReadGrey(piped);
        Assert.Equal(9, expected.Count);
        Assert.Equal(expected.Count, actual.Count);
        for (int t = 0; t < expected.Count; t++) Assert.True(MaxDifference(expected[t], actual[t]) <= 1, $"frame {t} differs by {MaxDifference(expected[t], actual[t])}");
        // The matte is not trivially flat: the state-carrying network saw a moving figure.
        Cv2.MinMaxLoc(actual[^1], out double low, out double high);
        Assert.True(high - low > 50, $"alpha range {low}..{high}");
    }

    [Fact]
    public void A_folder_of_images_of_two_sizes_starts_a_new_stream_at_the_change()
    {
        string images = Directory.CreateDirectory(Path.Combine(_dir, "images")).FullName;
        var sizes = new[] { (96, 54), (96, 54), (96, 54), (80, 60), (80, 60) };
        for (int i = 0; i < sizes.Length; i++)
        {
            using var frame = Frame(i, sizes[i].Item1, sizes[i].Item2);
            Cv2.ImWrite(Path.Combine(images, $"f{i:D2}.png"), frame);
        }
        string plain = Path.Combine(_dir, "plain") + "/", piped = Path.Combine(_dir, "piped") + "/";
        var a = CliRunner.Run("matte", images, "--out", Path.Combine(_dir, "o1") + "/", "--alpha", plain, "--threads", "2");
        var b = CliRunner.Run("matte", images, "--out", Path.Combine(_dir, "o2") + "/", "--alpha", piped, "--threads", "2", "--pipeline");
        Assert.True(a.Code == 0, a.Err);
        Assert.True(b.Code == 0, b.Err);
        for (int i = 0; i < sizes.Length; i++)
        {
            using var expected = Cv2.ImRead(Path.Combine(plain, $"f{i:D2}.png"), ImreadModes.Grayscale);
            using var actual = Cv2.ImRead(Path.Combine(piped, $"f{i:D2}.png"), ImreadModes.Grayscale);
            Assert.Equal(new Size(sizes[i].Item1, sizes[i].Item2), actual.Size());
            Assert.True(MaxDifference(expected, actual) <= 1, $"image {i} differs by {MaxDifference(expected, actual)}");
        }
    }

    [Fact]
    public void Bench_matte_with_pipeline_times_the_pipeline_alone_and_in_the_whole_file()
    {
        string input = WriteVideo("in.mkv", frames: 4, width: 128, height: 72);
        var (code, stdout, stderr) = CliRunner.Run("bench", "--matte", input, "--frames", "4", "--rounds", "1", "--threads", "2", "--pipeline");
        Assert.True(code == 0, stderr);
        Assert.Contains("round 1: model only", stdout);
        Assert.Contains("whole file / model only: median", stdout);
    }

    [Fact]
    public void A_small_video_on_two_threads_is_pipelined_unless_told_not_to()
    {
        string input = WriteVideo("in.mkv", frames: 3, width: 96, height: 54);
        var auto = CliRunner.Run("matte", input, "--out", Path.Combine(_dir, "a.mkv"), "--threads", "2");
        var off = CliRunner.Run("matte", input, "--out", Path.Combine(_dir, "b.mkv"), "--threads", "2", "--no-pipeline");
        var one = CliRunner.Run("matte", input, "--out", Path.Combine(_dir, "c.mkv"), "--threads", "1");
        Assert.True(auto.Code == 0 && off.Code == 0 && one.Code == 0, auto.Err + off.Err + one.Err);
        Assert.Contains("the network as a pipeline of its stages", auto.Out);
        Assert.DoesNotContain("as a pipeline of its stages", off.Out);
        Assert.DoesNotContain("as a pipeline of its stages", one.Out);
        var both = CliRunner.Run("matte", input, "--out", Path.Combine(_dir, "d.mkv"), "--pipeline", "--no-pipeline");
        Assert.NotEqual(0, both.Code);
        Assert.Contains("--pipeline and --no-pipeline", both.Err);
    }

    [Fact]
    public void A_model_that_cannot_be_cut_runs_frame_by_frame_unless_the_pipeline_was_asked_for()
    {
        string model = Path.Combine(_dir, "luma.onnx");
        File.WriteAllBytes(model, ContractTestModels.LumaKeyWithCounter());
        string input = WriteVideo("in.mkv", frames: 2, width: 48, height: 32);
        var (code, stdout, stderr) = CliRunner.Run("matte", input, "--model", model, "--out", Path.Combine(_dir, "o.mkv"), "--threads", "2");
        Assert.True(code == 0, stderr);
        Assert.Contains("matted 2 frame(s)", stdout);
        Assert.DoesNotContain("as a pipeline of its stages", stdout);
    }

    [Fact]
    public void A_model_that_cannot_be_cut_is_refused_in_one_line()
    {
        string model = Path.Combine(_dir, "luma.onnx");
        File.WriteAllBytes(model, ContractTestModels.LumaKeyWithCounter());
        string input = WriteVideo("in.mkv", frames: 2, width: 48, height: 32);
        var (code, _, stderr) = CliRunner.Run("matte", input, "--model", model, "--out", Path.Combine(_dir, "o.mkv"), "--pipeline");
        Assert.NotEqual(0, code);
        Assert.Contains("cannot run as a pipeline", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.False(File.Exists(Path.Combine(_dir, "o.mkv")));
    }
}
