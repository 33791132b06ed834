using BiVM.Benchmarking.Models;
using BiVM.Contracts;
using OpenCvSharp;

namespace BiVM.Cli.Matting;

/// <summary>
/// The frames of <c>bivm bench --models --video FILE</c>: the file's first <see cref="MaxFrames"/> frames, decoded once as
/// <c>bivm matte</c> decodes them (<see cref="FrameSource"/>), then at each benchmark size scaled (OpenCV's area
/// interpolation to shrink, bilinear to enlarge) and converted to planar RGB in 0..1 by the pass <c>bivm matte</c> uses
/// (<see cref="PixelKernels.ToPlanar"/>). At most <see cref="SizeBudgetBytes"/> of floats per size: at 1920×1080 (25 MB a
/// frame) the first 20 frames, which the benchmark then takes in turn.
/// </summary>
internal static class BenchVideoFrames
{
    /// <summary>Frames decoded at most: about 2.4 s of 25 fps video, enough for the SHB mask to follow real motion.</summary>
    public const int MaxFrames = 60;

    /// <summary>Planar float frames kept for one size at most.</summary>
    public const long SizeBudgetBytes = 512L << 20;

    /// <summary>Decodes <paramref name="path"/>'s first frames; the frames at each size are made when the benchmark asks.</summary>
    /// <param name="sizeBudgetBytes">Planar float frames kept for one size at most (at least one frame is).</param>
    /// <exception cref="UserInputException">The file cannot be opened or holds no frame.</exception>
    public static BenchVideo Open(string path, long sizeBudgetBytes = SizeBudgetBytes)
    {
        var decoded = FrameSource.ReadFirst(path, MaxFrames, bgr =>
        {
            using var packed = bgr.IsContinuous() ? null : bgr.Clone();
            return ((packed ?? bgr).AsSpan<byte>().ToArray(), bgr.Width, bgr.Height);
        });
        return new BenchVideo(Path.GetFileName(path), (width, height) => At(decoded, width, height, sizeBudgetBytes));
    }

    /// <summary>The decoded frames at <paramref name="width"/>×<paramref name="height"/>, as many as the budget allows.</summary>
    private static List<float[]> At(List<(byte[] Bgr, int Width, int Height)> decoded, int width, int height, long budgetBytes)
    {
        int n = width * height;
        int count = (int)Math.Clamp(budgetBytes / (3L * n * sizeof(float)), 1, decoded.Count);
        var frames = new List<float[]>(count);
        using var resized = new Mat();
        foreach (var (bytes, w, h) in decoded.Take(count))
        {
            using var frame = Mat.FromPixelData(h, w, MatType.CV_8UC3, bytes);
            var scaled = frame;
            if (w != width || h != height)
            {
                var interpolation = (long)width * height < (long)w * h ? InterpolationFlags.Area : InterpolationFlags.Linear;
                Cv2.Resize(frame, resized, new Size(width, height), interpolation: interpolation);
                scaled = resized;
            }
            var planar = new float[3 * n];
            PixelKernels.ToPlanar(scaled.AsSpan<byte>(), planar.AsSpan(0, n), planar.AsSpan(n, n), planar.AsSpan(2 * n, n));
            frames.Add(planar);
        }
        return frames;
    }
}
