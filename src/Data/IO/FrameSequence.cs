using OpenCvSharp;

namespace BiVM.Data.IO;

/// <summary>
/// Frames from one of the three forms real data sets store them in: a still image (one frame), a
/// folder of image frames (ordinal file-name order, as VideoMatte240K's extracted frames), or a
/// video file. Reads 8-bit BGR, or one channel for alpha.
/// </summary>
public sealed class FrameSequence
{
    public static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"];
    public static readonly string[] VideoExtensions = [".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v"];

    private readonly string[]? _frames;
    private readonly Lazy<int> _count;

    private FrameSequence(string path, SequenceKind kind, string[]? frames)
    {
        Path = path;
        Kind = kind;
        _frames = frames;
        _count = new Lazy<int>(() => kind switch
        {
            SequenceKind.Image => 1,
            SequenceKind.Folder => _frames!.Length,
            _ => CountVideoFrames(path),
        }, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public string Path { get; }
    public SequenceKind Kind { get; }

    /// <summary>Frames in the sequence (a video's are counted by decoding, once: AVI headers can be off).</summary>
    public int FrameCount => _count.Value;

    /// <summary>The frame file names of a folder sequence (null otherwise).</summary>
    public IReadOnlyList<string>? FrameNames => _frames;

    /// <summary>An image, a folder of images or a video; null for anything else (the caller names the problem).</summary>
    public static FrameSequence? TryOpen(string path)
    {
        if (Directory.Exists(path))
        {
            var frames = Directory.GetFiles(path).Where(IsImage).Select(System.IO.Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal).ToArray();
            return frames.Length == 0 ? null : new FrameSequence(path, SequenceKind.Folder, frames!);
        }
        if (IsImage(path)) return new FrameSequence(path, SequenceKind.Image, null);
        if (IsVideo(path)) return new FrameSequence(path, SequenceKind.Video, null);
        return null;
    }

    public static bool IsImage(string path) => ImageExtensions.Contains(System.IO.Path.GetExtension(path).ToLowerInvariant());
    public static bool IsVideo(string path) => VideoExtensions.Contains(System.IO.Path.GetExtension(path).ToLowerInvariant());

    /// <summary>
    /// The frames at <paramref name="indices"/> (repeats allowed; an image gives its one frame for
    /// every index), 8-bit BGR or, with <paramref name="alpha"/>, one channel. The caller disposes them.
    /// </summary>
    public Mat[] Read(IReadOnlyList<int> indices, bool alpha = false)
    {
        foreach (int i in indices)
            if (i < 0 || (Kind != SequenceKind.Image && i >= FrameCount))
                throw new ArgumentOutOfRangeException(nameof(indices), $"Frame {i} is outside {Path}'s {FrameCount} frames.");
        return Kind switch
        {
            SequenceKind.Image => indices.Select(_ => Load(Path, alpha)).ToArray(),
            SequenceKind.Folder => indices.Select(i => Load(System.IO.Path.Combine(Path, _frames![i]), alpha)).ToArray(),
            _ => ReadVideo(indices, alpha),
        };
    }

    private static Mat Load(string file, bool alpha)
    {
        var image = Cv2.ImRead(file, alpha ? ImreadModes.Grayscale : ImreadModes.Color);
        if (image.Empty())
        {
            image.Dispose();
            throw new InvalidDataException($"OpenCV could not decode {file}.");
        }
        if (image.Depth() != MatType.CV_8U)
        {
            // 16-bit PNG mattes: scale to 8 bits rather than misread them.
            var eight = new Mat();
            image.ConvertTo(eight, alpha ? MatType.CV_8UC1 : MatType.CV_8UC3, 255.0 / 65535.0);
            image.Dispose();
            return eight;
        }
        return image;
    }

    /// <summary>One decoding pass up to the largest index (data-set videos are short; seeking is not exact in every container).</summary>
    private Mat[] ReadVideo(IReadOnlyList<int> indices, bool alpha)
    {
        int last = indices.Max();
        var wanted = indices.ToHashSet();
        var decoded = new Dictionary<int, Mat>();
        try
        {
            using var capture = Open(Path);
            using var raw = new Mat();
            for (int i = 0; i <= last; i++)
            {
                if (!capture.Read(raw) || raw.Empty()) throw new InvalidDataException($"{Path}: frame {i} could not be decoded.");
                if (!wanted.Contains(i)) continue;
                var frame = new Mat();
                if (alpha) Cv2.CvtColor(raw, frame, ColorConversionCodes.BGR2GRAY);
                else raw.CopyTo(frame);
                decoded[i] = frame;
            }
            return indices.Select(i => decoded[i].Clone()).ToArray();
        }
        finally
        {
            foreach (var m in decoded.Values) m.Dispose();
        }
    }

    private static int CountVideoFrames(string path)
    {
        using var capture = Open(path);
        int n = 0;
        while (capture.Grab()) n++;
        if (n == 0) throw new InvalidDataException($"{path} has no decodable frames.");
        return n;
    }

    private static VideoCapture Open(string path)
    {
        var capture = new VideoCapture(path);
        if (capture.IsOpened()) return capture;
        capture.Dispose();
        throw new InvalidDataException($"OpenCV could not open the video {path}.");
    }
}

public enum SequenceKind
{
    Image,
    Folder,
    Video,
}
