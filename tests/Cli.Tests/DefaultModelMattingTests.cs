using BiVM.Data.Metrics;
using BiVM.Data.Synthesis;
using BiVM.Estimators.Video;
using OpenCvSharp;

namespace BiVM.Cli.Tests;

/// <summary>
/// The product end to end: <c>bivm matte</c> without <c>--model</c> (the shipped, trained models/bivm.onnx)
/// on generated composite clips with known alpha, through an 8-bit lossless video in and out.
/// </summary>
public sealed class DefaultModelMattingTests : IDisposable
{
    /// <summary>
    /// MAD ×1e3 the shipped BiVM must stay under on the first <see cref="ClipCount"/> validation clips.
    /// Measured when the model shipped (README, "Training and accuracy"): the shipped BiVM scores 48.4 on
    /// these clips through `bivm matte` (52.1 on all 40 clips with float input, `bivm eval`); all
    /// background scores 79.1 here. The bound, 55, leaves room for 8-bit rounding and another CPU's
    /// float summation order (the custom kernels are exact; the 32-bit parts are not bit-reproducible
    /// across instruction sets), and sits far enough under all background that a model which matted
    /// nothing, or an alpha/foreground swap, fails.
    /// </summary>
    private const double MadBound = 55;

    private const int ClipCount = 3;

    private readonly string _dir = Directory.CreateTempSubdirectory("bivm-default-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void The_shipped_model_mattes_validation_clips_well_below_all_background()
    {
        Assert.True(DefaultModel.IsAvailable, "models/bivm.onnx is not embedded: this build ships no default model");
        double sumError = 0, sumBackground = 0;
        long pixels = 0;
        foreach (var (clip, i) in DataSets.Validation.Clips().Take(ClipCount).Select((c, i) => (c, i)))
        {
            string input = Path.Combine(_dir, $"clip{i}.mkv"), alpha = Path.Combine(_dir, $"alpha{i}.mkv");
            WriteSource(clip, input);
            var (code, stdout, stderr) = CliRunner.Run("matte", input, "--out", Path.Combine(_dir, $"out{i}.mkv"), "--alpha", alpha, "--threads", "1");
            Assert.True(code == 0, stderr);
            Assert.Contains("with the shipped bivm.onnx", stdout);

            using var capture = new VideoCapture(alpha);
            for (int t = 0; t < clip.Frames; t++)
            {
                using var frame = new Mat();
                Assert.True(capture.Read(frame) && !frame.Empty(), $"{alpha}: frame {t} missing");
                var truth = clip.Plane(clip.Pha, t, 0, 1);
                var predicted = new float[truth.Length];
                for (int y = 0; y < clip.Height; y++)
                    for (int x = 0; x < clip.Width; x++)
                        predicted[y * clip.Width + x] = frame.At<Vec3b>(y, x).Item0 / 255f;
                sumError += Mad.Compute(predicted, truth) * truth.Length;
                sumBackground += Mad.Compute(new float[truth.Length], truth) * truth.Length;
                pixels += truth.Length;
            }
        }
        double mad = sumError / pixels, background = sumBackground / pixels;
        Assert.True(mad < MadBound, $"MAD {mad:F1} on {ClipCount} validation clips ≥ {MadBound} (all background: {background:F1})");
        Assert.True(mad < 0.75 * background, $"MAD {mad:F1} is not well below all background ({background:F1})");
    }

    /// <summary>The clip's composite as an FFV1 (lossless) video, RGB float → BGR bytes.</summary>
    private static void WriteSource(Clip clip, string path)
    {
        using var writer = new VideoWriter(path, VideoWriter.FourCC('F', 'F', 'V', '1'), 15, new Size(clip.Width, clip.Height));
        Assert.True(writer.IsOpened(), $"{path}: FFV1 writer did not open");
        for (int t = 0; t < clip.Frames; t++)
        {
            using var frame = new Mat(clip.Height, clip.Width, MatType.CV_8UC3);
            var r = clip.Plane(clip.Src, t, 0, 3).ToArray();
            var g = clip.Plane(clip.Src, t, 1, 3).ToArray();
            var b = clip.Plane(clip.Src, t, 2, 3).ToArray();
            for (int y = 0; y < clip.Height; y++)
                for (int x = 0; x < clip.Width; x++)
                {
                    int k = y * clip.Width + x;
                    frame.Set(y, x, new Vec3b(ToByte(b[k]), ToByte(g[k]), ToByte(r[k])));
                }
            writer.Write(frame);
        }
    }

    private static byte ToByte(float v) => (byte)Math.Clamp(MathF.Round(v * 255f), 0, 255);
}
