using BiVM.Tests.Shared;
using OpenCvSharp;

namespace BiVM.Cli.Tests;

/// <summary><c>bivm compare</c> with the luma-key contract model (α = mean of RGB), whose composite is known.</summary>
public sealed class CompareCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bivm-compare-").FullName;
    private readonly string _model;
    private readonly string _video;

    public CompareCommandTests()
    {
        _model = Path.Combine(_dir, "luma.onnx");
        File.WriteAllBytes(_model, ContractTestModels.LumaKeyWithCounter());
        _video = Path.Combine(_dir, "in.mkv");
        using var writer = new VideoWriter(_video, VideoWriter.FourCC('F', 'F', 'V', '1'), 10, new Size(64, 48));
        for (int t = 0; t < 4; t++)
        {
            using var frame = new Mat(48, 64, MatType.CV_8UC3, new Scalar(10 * t, 60, 200));   // BGR, changes per frame
            writer.Write(frame);
        }
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Tiles_the_chosen_input_frame_and_each_models_composite_in_a_grid()
    {
        string figure = Path.Combine(_dir, "fig.png");
        var (code, stdout, stderr) = CliRunner.Run("compare", _video, "--model", _model, _model, "--frame", "2", "--background", "0,0,0",
            "--columns", "3", "--scale", "1", "--out", figure, "--threads", "1");
        Assert.True(code == 0, stderr);
        Assert.Contains("wrote", stdout);
        using var image = Cv2.ImRead(figure);
        Assert.Equal(new Size(3 * 64, 48), image.Size());

        // Below the label: tile 0 is frame 2 itself; tiles 1, 2 are α·src over black with α = mean(src)/255.
        var src = image.At<Vec3b>(40, 32);
        Assert.Equal(new Vec3b(20, 60, 200), src);
        float alpha = (20 + 60 + 200) / 3f / 255f;
        foreach (int tile in new[] { 1, 2 })
        {
            var px = image.At<Vec3b>(40, tile * 64 + 32);
            Assert.InRange(px.Item2, (int)(alpha * 200) - 1, (int)(alpha * 200) + 1);
            Assert.InRange(px.Item1, (int)(alpha * 60) - 1, (int)(alpha * 60) + 1);
        }
        Assert.Single(Directory.GetFiles(_dir, "*.png"));   // no temporary file left behind
    }

    [Fact]
    public void A_frame_past_the_end_or_a_video_output_is_refused_and_writes_nothing()
    {
        string figure = Path.Combine(_dir, "fig.png");
        var (code, _, stderr) = CliRunner.Run("compare", _video, "--model", _model, "--frame", "4", "--out", figure);
        Assert.Equal(1, code);
        Assert.Contains("has 4 frame(s), numbered 0 to 3", stderr);   // refused from the declared count, before any frame is matted
        Assert.False(File.Exists(figure));

        (code, _, stderr) = CliRunner.Run("compare", _video, "--model", _model, "--out", Path.Combine(_dir, "fig.mkv"));
        Assert.Equal(1, code);
        Assert.Contains("the figure is one image", stderr);
        Assert.Empty(Directory.GetFiles(_dir, "*fig*"));
    }
}
