using System.CommandLine;
using BiVM.Tests.Shared;
using OpenCvSharp;

namespace BiVM.Cli.Tests;

/// <summary>
/// <c>bivm matte</c> end to end with a contract test model whose output is known (pha = mean of RGB,
/// fgr = src): the plumbing (decode, matte, composite, encode, atomic outputs, errors) is checked
/// exactly; the trained model's accuracy is checked elsewhere.
/// </summary>
public sealed class MatteCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bivm-matte-").FullName;
    private readonly string _model;

    public MatteCommandTests()
    {
        _model = Path.Combine(_dir, "luma.onnx");
        File.WriteAllBytes(_model, ContractTestModels.LumaKeyWithCounter());
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    private string WriteVideo(string name, int frames, int width = 48, int height = 32)
    {
        string path = Path.Combine(_dir, name);
        using var writer = new VideoWriter(path, VideoWriter.FourCC('F', 'F', 'V', '1'), 10, new Size(width, height));
        for (int t = 0; t < frames; t++)
        {
            using var frame = new Mat(height, width, MatType.CV_8UC3, new Scalar(30, 90, 200));   // BGR
            Cv2.Circle(frame, new Point(8 + 3 * t, 16), 6, new Scalar(240, 240, 240), -1);
            writer.Write(frame);
        }
        return path;
    }

    private static List<Mat> ReadVideo(string path)
    {
        using var capture = new VideoCapture(path);
        var frames = new List<Mat>();
        while (true)
        {
            var m = new Mat();
            if (!capture.Read(m) || m.Empty()) { m.Dispose(); break; }
            frames.Add(m);
        }
        return frames;
    }

    [Fact]
    public void Preset_and_crf_set_the_mp4_encoder_and_change_its_output()
    {
        string input = WriteVideo("in.mkv", frames: 6, width: 96, height: 64);
        string fine = Path.Combine(_dir, "fine.mp4"), coarse = Path.Combine(_dir, "coarse.mp4");
        var a = Run("matte", input, "--model", _model, "--out", fine, "--threads", "1");
        var b = Run("matte", input, "--model", _model, "--out", coarse, "--threads", "1", "--preset", "ultrafast", "--crf", "40");
        Assert.True(a.Code == 0, a.Err);
        Assert.True(b.Code == 0, b.Err);
        Assert.Equal(6, ReadVideo(coarse).Count);
        // crf 40 keeps much less than the default 18: a visibly smaller file for the same frames.
        Assert.True(new FileInfo(coarse).Length < new FileInfo(fine).Length, $"crf 40 {new FileInfo(coarse).Length} bytes, crf 18 {new FileInfo(fine).Length}");
    }

    [Theory]
    [InlineData("--preset", "fastest", "fastest")]
    [InlineData("--crf", "52", "between 0 and 51")]
    public void Bad_preset_or_crf_is_refused_in_one_line(string option, string value, string expected)
    {
        string input = WriteVideo("in.mkv", frames: 2);
        var (code, _, stderr) = Run("matte", input, "--model", _model, "--out", Path.Combine(_dir, "o.mp4"), option, value);
        Assert.NotEqual(0, code);
        Assert.Contains(expected, stderr);
        Assert.Empty(Directory.GetFiles(_dir, "o*"));
    }

    [Fact]
    public void Preset_without_an_mp4_output_is_refused_before_any_work()
    {
        string input = WriteVideo("in.mkv", frames: 2);
        var (code, _, stderr) = Run("matte", input, "--model", _model, "--out", Path.Combine(_dir, "o.mkv"), "--preset", "fast");
        Assert.NotEqual(0, code);
        Assert.Contains("--preset and --crf set the H.264 encoder of .mp4 outputs, and this run writes none", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.False(File.Exists(Path.Combine(_dir, "o.mkv")));
    }

    [Fact]
    public void Mattes_a_video_into_composite_lossless_alpha_and_foreground()
    {
        string input = WriteVideo("in.mkv", frames: 6);
        string composite = Path.Combine(_dir, "out.mkv"), alpha = Path.Combine(_dir, "alpha.mkv"), foreground = Path.Combine(_dir, "fg.mkv");
        var (code, stdout, stderr) = Run("matte", input, "--model", _model, "--out", composite, "--alpha", alpha, "--foreground", foreground, "--background", "0,0,0", "--threads", "1");
        Assert.True(code == 0, stderr);
        Assert.Contains("matted 6 frame(s)", stdout);

        var inputs = ReadVideo(input);
        var alphas = ReadVideo(alpha);
        var composites = ReadVideo(composite);
        Assert.Equal(6, alphas.Count);
        Assert.Equal(6, composites.Count);
        for (int t = 0; t < 6; t++)
        {
            // Luma-key model: α = mean(R, G, B)/255; over black the composite is α·src.
            var px = inputs[t].At<Vec3b>(16, 8 + 3 * t);
            var bg = inputs[t].At<Vec3b>(2, 40);
            float a = (bg.Item0 + bg.Item1 + bg.Item2) / 3f / 255f;
            Assert.InRange(alphas[t].At<Vec3b>(2, 40).Item0, (int)MathF.Round(a * 255) - 1, (int)MathF.Round(a * 255) + 1);
            Assert.InRange(composites[t].At<Vec3b>(2, 40).Item2, (int)(a * bg.Item2) - 1, (int)(a * bg.Item2) + 1);
            Assert.True(alphas[t].At<Vec3b>(16, 8 + 3 * t).Item0 >= 235, "the bright disc has α ≈ 240/255");
            _ = px;
        }
        Assert.Empty(Directory.GetFileSystemEntries(_dir, ".*tmp*"));
    }

    [Fact]
    public void Frames_option_mattes_a_preview_of_the_first_n_frames()
    {
        string input = WriteVideo("long.mkv", frames: 8);
        string composite = Path.Combine(_dir, "preview.mkv");
        var (code, stdout, stderr) = Run("matte", input, "--model", _model, "--out", composite, "--frames", "3");
        Assert.True(code == 0, stderr);
        Assert.Contains("matted 3 frame(s)", stdout);
        Assert.Equal(3, ReadVideo(composite).Count);
        Assert.Equal(2, Run("matte", input, "--model", _model, "--frames", "0").Code);   // a usage error
    }

    [Fact]
    public void Without_model_matte_uses_the_shipped_model_or_says_there_is_none()
    {
        string input = WriteVideo("in3.mkv", frames: 1);
        string output = Path.Combine(_dir, "o.mkv");
        var (code, stdout, stderr) = Run("matte", input, "--out", output);
        if (BiVM.Estimators.Video.DefaultModel.IsAvailable)   // a build with models/bivm.onnx embeds it
        {
            Assert.True(code == 0, stderr);
            Assert.Contains("with the shipped bivm.onnx", stdout);
            Assert.True(File.Exists(output));
        }
        else
        {
            Assert.Equal(1, code);
            Assert.Contains("no default model", stderr);
            Assert.False(File.Exists(output));
        }
    }

    [Fact]
    public void A_folder_of_images_gives_a_folder_of_pngs_named_after_the_inputs()
    {
        string folder = Directory.CreateDirectory(Path.Combine(_dir, "frames")).FullName;
        foreach (var name in new[] { "b.png", "a.png" })
        {
            using var img = new Mat(20, 30, MatType.CV_8UC3, new Scalar(0, 0, 255));
            Cv2.ImWrite(Path.Combine(folder, name), img);
        }
        string alpha = Path.Combine(_dir, "alpha");
        var (code, _, stderr) = Run("matte", folder, "--model", _model, "--out", Path.Combine(_dir, "comp") + "/", "--alpha", alpha + "/");
        Assert.True(code == 0, stderr);
        Assert.Equal(new[] { "a.png", "b.png" }, Directory.GetFiles(alpha).Select(Path.GetFileName).Order().ToArray());
        using var a = Cv2.ImRead(Path.Combine(alpha, "a.png"), ImreadModes.Grayscale);
        Assert.Equal(85, a.At<byte>(5, 5));   // mean(255, 0, 0) = 85
    }

    [Fact]
    public void Missing_input_names_the_file_and_fails()
    {
        var (code, _, stderr) = Run("matte", Path.Combine(_dir, "nope.mp4"), "--model", _model);
        Assert.Equal(1, code);
        Assert.Contains("nope.mp4: no such file or folder", stderr);
    }

    [Fact]
    public void Corrupt_and_truncated_videos_fail_without_leaving_output()
    {
        string corrupt = Path.Combine(_dir, "corrupt.avi");
        File.WriteAllBytes(corrupt, Enumerable.Range(0, 5000).Select(i => (byte)(i * 7919 % 251)).ToArray());
        string outPath = Path.Combine(_dir, "o1.mkv");
        var (code, _, stderr) = Run("matte", corrupt, "--model", _model, "--out", outPath);
        Assert.Equal(1, code);
        Assert.Contains("corrupt.avi", stderr);
        Assert.False(File.Exists(outPath));

        // An MJPG .avi cut in half: the header still declares every frame.
        string whole = Path.Combine(_dir, "whole.avi");
        using (var writer = new VideoWriter(whole, VideoWriter.FourCC('M', 'J', 'P', 'G'), 10, new Size(64, 48)))
            for (int t = 0; t < 40; t++) { using var f = new Mat(48, 64, MatType.CV_8UC3, Scalar.All(t * 5)); Cv2.Randu(f, Scalar.All(0), Scalar.All(255)); writer.Write(f); }
        var bytes = File.ReadAllBytes(whole);
        string truncated = Path.Combine(_dir, "truncated.avi");
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        string outPath2 = Path.Combine(_dir, "o2.mkv");
        var (code2, _, stderr2) = Run("matte", truncated, "--model", _model, "--out", outPath2, "--alpha", Path.Combine(_dir, "a2.mkv"));
        Assert.Equal(1, code2);
        Assert.Contains("truncated.avi", stderr2);
        Assert.False(File.Exists(outPath2));
        Assert.False(File.Exists(Path.Combine(_dir, "a2.mkv")));
        Assert.Empty(Directory.GetFileSystemEntries(_dir, ".*tmp*"));
    }

    [Fact]
    public void Unwritable_output_and_non_matting_model_fail_with_one_clear_line()
    {
        string input = WriteVideo("in2.mkv", frames: 2);
        var (code, _, stderr) = Run("matte", input, "--model", _model, "--out", "/no/such/dir/out.mp4");
        Assert.Equal(1, code);
        Assert.Contains("/no/such/dir", stderr);

        string identity = Path.Combine(_dir, "identity.onnx");
        File.WriteAllBytes(identity, ContractTestModels.NotAMattingModel());
        var (code2, _, stderr2) = Run("matte", input, "--model", identity, "--out", Path.Combine(_dir, "x.mkv"));
        Assert.Equal(1, code2);
        Assert.Contains("identity.onnx: not a BiVM/RVM matting model", stderr2);
        Assert.Single(stderr2.Trim().Split('\n'));

        var (code3, _, stderr3) = Run("matte", input, "--model", _model, "--alpha", Path.Combine(_dir, "alpha.mp4"));
        Assert.Equal(1, code3);
        Assert.Contains("losslessly", stderr3);

        long before = new FileInfo(input).Length;
        var (code4, _, stderr4) = Run("matte", input, "--model", _model, "--out", input);
        Assert.Equal(1, code4);
        Assert.Contains("would overwrite the input", stderr4);
        Assert.Equal(before, new FileInfo(input).Length);
    }
}
