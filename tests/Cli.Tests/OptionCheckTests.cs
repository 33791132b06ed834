using BiVM.Contracts;
using BiVM.Tests.Shared;
using OpenCvSharp;

namespace BiVM.Cli.Tests;

/// <summary>
/// Options are checked before any work, each failure one line in our words: no .NET type or parameter names, no
/// ONNX Runtime text, and no output file left behind. The probes are the ones a hostile first user tried (#15).
/// </summary>
public sealed class OptionCheckTests : IDisposable
{
    private readonly TempFolder _dir = new("bivm-options-");
    private readonly string _model, _video;

    public OptionCheckTests()
    {
        _model = _dir.File("luma.onnx");
        File.WriteAllBytes(_model, ContractTestModels.LumaKeyWithCounter());
        _video = _dir.File("in.mkv");
        using var writer = new VideoWriter(_video, VideoWriter.FourCC('F', 'F', 'V', '1'), 10, new Size(64, 48));
        for (int t = 0; t < 5; t++)
        {
            using var frame = new Mat(48, 64, MatType.CV_8UC3, new Scalar(40, 90, 10 * t));
            writer.Write(frame);
        }
    }

    public void Dispose() => _dir.Dispose();

    private static void AssertOneCleanLine(string stderr)
    {
        string first = stderr.Split('\n')[0];
        Assert.DoesNotContain("Parameter", first);
        Assert.DoesNotContain("System.", first);
        Assert.DoesNotContain("Exception", first);
        Assert.DoesNotContain("internal error", first);
    }

    /// <summary>The files in the folder besides the inputs: a refused command writes nothing, not even a temporary file.</summary>
    private string[] Written() => Directory.GetFileSystemEntries(_dir.Path).Select(Path.GetFileName).Where(f => f is not ("luma.onnx" or "in.mkv")).ToArray()!;

    [Theory]
    [InlineData("1000")]
    [InlineData("-1")]
    public void Thread_counts_beyond_four_per_core_are_a_usage_error_that_states_the_bound(string threads)
    {
        var (code, _, stderr) = CliRunner.Run("matte", _video, "--model", _model, "--threads", threads, "--out", _dir.File("o.mp4"));
        Assert.Equal(ExitCodes.UsageError, code);
        Assert.StartsWith($"bivm: --threads {threads}: must be between 0 and {4 * Environment.ProcessorCount} (4 per core; this machine has {Environment.ProcessorCount})", stderr);
        Assert.Empty(Written());
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("0")]
    [InlineData("1.5")]
    [InlineData("NaN")]
    public void A_downsample_ratio_that_is_not_in_0_1_is_one_line_without_dotnet_words(string ratio)
    {
        var (code, _, stderr) = CliRunner.Run("matte", _video, "--model", _model, "--downsample", ratio);
        Assert.Equal(ExitCodes.UsageError, code);
        Assert.StartsWith($"bivm: --downsample '{ratio}': expected a number in (0, 1]", stderr);
        Assert.DoesNotContain("Single", stderr);
        AssertOneCleanLine(stderr);
    }

    [Fact]
    public void A_downsample_ratio_too_small_for_the_frame_names_the_smallest_that_works_and_writes_nothing()
    {
        var (code, _, stderr) = CliRunner.Run("matte", _video, "--model", _model, "--downsample", "1e-9", "--out", _dir.File("o.mp4"));
        Assert.Equal(ExitCodes.UserInputError, code);
        float smallest = MattingContract.SmallestDownsampleRatio(64, 48);
        Assert.Equal($"bivm matte: downsample ratio 1E-09 is too small for a 64×48 frame: the network would see 0×0 pixels, less than one 16-pixel cell of its coarsest feature map; the smallest ratio for this size is {smallest.ToString("G4", System.Globalization.CultureInfo.InvariantCulture)}", stderr.Trim());
        Assert.Empty(Written());
        // The ratio it names works.
        var ok = CliRunner.Run("matte", _video, "--model", _model, "--downsample", smallest.ToString("G4", System.Globalization.CultureInfo.InvariantCulture), "--out", _dir.File("o.mp4"));
        Assert.True(ok.Code == 0, ok.Err);
    }

    [Theory]
    [InlineData(16, 16)]
    [InlineData(768, 576)]
    [InlineData(1920, 1080)]
    [InlineData(8000, 17)]
    [InlineData(33, 5000)]
    public void The_smallest_ratio_gives_one_coarsest_cell_and_anything_below_it_does_not(int width, int height)
    {
        float r = MattingContract.SmallestDownsampleRatio(width, height);
        Assert.True(MattingContract.IsLargeEnough(width, height, r));
        Assert.True(r == 1f || !MattingContract.IsLargeEnough(width, height, r * 0.999f));
        Assert.True(r <= 1f);
    }

    [Fact]
    public void Compare_refuses_a_frame_beyond_the_videos_length_before_loading_any_model()
    {
        // A model path that does not exist: the frame check must come first, so the error is about the frame.
        var (code, _, stderr) = CliRunner.Run("compare", _video, "--model", _dir.File("missing.onnx"), "--frame", "5000", "--out", _dir.File("f.png"));
        Assert.Equal(ExitCodes.UserInputError, code);
        Assert.Equal($"bivm compare: --frame 5000: {_video} has 5 frame(s), numbered 0 to 4", stderr.Trim());
        Assert.Empty(Written());
    }

    [Theory]
    [InlineData("--alpha", "x.xyz")]
    [InlineData("--out", "noextension")]
    [InlineData("--foreground", "fg.txt")]
    public void An_output_of_unknown_kind_is_refused_a_folder_needs_a_trailing_separator(string option, string name)
    {
        var (code, _, stderr) = CliRunner.Run("matte", _video, "--model", _model, option, _dir.File(name));
        Assert.Equal(ExitCodes.UserInputError, code);
        Assert.Contains($"{option} {_dir.File(name)}: unknown kind of output", stderr);
        Assert.Contains("ending the path with '/'", stderr);
        AssertOneCleanLine(stderr);
        Assert.Empty(Written());

        var ok = CliRunner.Run("matte", _video, "--model", _model, "--out", _dir.File("o.mp4"), option == "--out" ? "--alpha" : option, _dir.File(name) + "/");
        Assert.True(ok.Code == 0, ok.Err);
        Assert.Equal(5, Directory.GetFiles(_dir.File(name)).Length);
    }

    [Fact]
    public void An_unwritable_output_folder_is_refused_before_any_frame_is_matted()
    {
        // /proc takes no new files, even for root (chmod does not stop root, so a read-only folder of our own would not do).
        var (code, stdout, stderr) = CliRunner.Run("matte", _video, "--model", _model, "--out", "/proc/out.mp4");
        Assert.Equal(ExitCodes.UserInputError, code);
        Assert.StartsWith("bivm matte: --out /proc/out.mp4: cannot write in folder '/proc'", stderr);
        Assert.DoesNotContain("matted", stdout);
    }

    [Fact]
    public void Export_with_weights_of_another_network_names_the_file()
    {
        // bivm weights under an rvm model.json: TorchSharp's "Mismatched state_dict sizes" must come with the file's name.
        string weights = _dir.File("model.bin");
        using (var bivm = BiVM.Model.Networks.ModelFactory.Create(BiVM.Model.Networks.ModelConfig.For(BiVM.Model.ModelFamily.Bivm)))
            BiVM.Model.Networks.ModelCheckpoint.Save(bivm, weights);
        File.WriteAllText(_dir.File("model.json"), BiVM.Model.Networks.ModelConfig.For(BiVM.Model.ModelFamily.Rvm).ToJson());
        var (code, _, stderr) = CliRunner.Run("export", "--family", "rvm", "--weights", weights, "--out", _dir.File("x.onnx"));
        Assert.Equal(ExitCodes.UserInputError, code);
        Assert.StartsWith($"bivm export: {weights}: not weights of the rvm network model.json describes", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.False(File.Exists(_dir.File("x.onnx")));
    }

    [Fact]
    public void A_model_modified_after_export_is_refused_unless_no_verify_is_given()
    {
        string model = _dir.File("stamped.onnx");
        File.WriteAllBytes(model, ModelChecksum.Stamp(File.ReadAllBytes(_model)));
        var ok = CliRunner.Run("matte", _video, "--model", model, "--out", _dir.File("a.mp4"));
        Assert.True(ok.Code == 0, ok.Err);
        Assert.Contains($"with {model}\n", ok.Out.ReplaceLineEndings("\n"));   // verified: nothing to say
        var unstamped = CliRunner.Run("matte", _video, "--model", _model, "--out", _dir.File("a.mp4"));
        Assert.Contains($"with {_model} (the file carries no checksum, so it was not verified)", unstamped.Out);

        // Change the one initializer (1.0 → 2.0): same size, still a valid model, different output.
        var bytes = File.ReadAllBytes(model);
        int at = bytes.AsSpan().IndexOf(BitConverter.GetBytes(1f));
        BitConverter.GetBytes(2f).CopyTo(bytes, at);
        File.WriteAllBytes(model, bytes);
        var (code, _, stderr) = CliRunner.Run("matte", _video, "--model", model, "--out", _dir.File("b.mp4"));
        Assert.Equal(ExitCodes.UserInputError, code);
        Assert.StartsWith($"bivm matte: {model}: modified or damaged since it was exported", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.False(File.Exists(_dir.File("b.mp4")));

        var anyway = CliRunner.Run("matte", _video, "--model", model, "--out", _dir.File("b.mp4"), "--no-verify");
        Assert.True(anyway.Code == 0, anyway.Err);
        Assert.Contains("(its checksum does not match: loaded because of --no-verify)", anyway.Out);
    }

    [Fact]
    public void Stamp_makes_a_file_that_verifies_and_differs_only_by_the_appended_entry()
    {
        string stamped = _dir.File("s.onnx");
        var (code, stdout, stderr) = CliRunner.Run("stamp", _model, "--out", stamped);
        Assert.True(code == 0, stderr);
        Assert.Contains("it carried no checksum", stdout);
        var before = File.ReadAllBytes(_model);
        var after = File.ReadAllBytes(stamped);
        Assert.Equal(before, after.AsSpan(0, before.Length).ToArray());
        Assert.Equal(ChecksumStatus.Verified, ModelChecksum.Check(after));

        File.WriteAllBytes(_dir.File("garbage.onnx"), [0xFF, 0xFF, 0xFF]);
        var bad = CliRunner.Run("stamp", _dir.File("garbage.onnx"));
        Assert.Equal(ExitCodes.UserInputError, bad.Code);
        Assert.StartsWith($"bivm stamp: {_dir.File("garbage.onnx")}: not a loadable ONNX model: its bytes do not parse as a protobuf message", bad.Err);
    }
}
