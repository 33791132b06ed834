using System.Collections.Concurrent;
using OpenCvSharp;

namespace BiVM.Data.Media;

/// <summary>
/// Decoded media, shared by all generator threads. Photos are decoded once and kept downscaled
/// (long side at most <see cref="PhotoLongSide"/>: a 2560x1600 wallpaper costs 1.7 MB, not 12 MB),
/// videos are opened per request and read from a frame index. Mats handed out are read-only.
/// </summary>
public sealed class MediaLibrary : IDisposable
{
    public const int PhotoLongSide = 960;

    private readonly ConcurrentDictionary<MediaFile, Lazy<Mat>> _photos = new();
    private readonly ConcurrentDictionary<MediaFile, int> _frameCounts = new();

    public MediaLibrary(MediaLocator locator)
    {
        Locator = locator;
    }

    public MediaLocator Locator { get; }

    private static readonly Lazy<MediaLibrary> SharedDefault = new(() => new MediaLibrary(MediaLocator.Default()));

    /// <summary>One process-wide library over <see cref="MediaLocator.Default"/>.</summary>
    public static MediaLibrary Default => SharedDefault.Value;

    /// <summary>The photo as 8-bit BGR, downscaled with area averaging. Do not modify or dispose it.</summary>
    public Mat Photo(MediaFile file)
    {
        if (file.Kind != MediaKind.Photo) throw new ArgumentException($"{file.Id} is a {file.Kind}, not a photo.", nameof(file));
        return _photos.GetOrAdd(file, f => new Lazy<Mat>(() => LoadPhoto(f), LazyThreadSafetyMode.ExecutionAndPublication)).Value;
    }

    private Mat LoadPhoto(MediaFile file)
    {
        string path = Locator.PathOf(file);
        var image = Cv2.ImRead(path, ImreadModes.Color);
        if (image.Empty()) throw new InvalidDataException($"OpenCV could not decode {path} ({file.Id}).");
        double scale = (double)PhotoLongSide / Math.Max(image.Width, image.Height);
        if (scale >= 1) return image;
        var small = new Mat();
        Cv2.Resize(image, small, new Size(Math.Round(image.Width * scale), Math.Round(image.Height * scale)), 0, 0, InterpolationFlags.Area);
        image.Dispose();
        return small;
    }

    /// <summary>Number of decodable frames (counted once by decoding, since AVI headers can be off).</summary>
    public int FrameCount(MediaFile video)
    {
        if (video.Kind != MediaKind.Video) throw new ArgumentException($"{video.Id} is a {video.Kind}, not a video.", nameof(video));
        return _frameCounts.GetOrAdd(video, v =>
        {
            using var capture = Open(v);
            int n = 0;
            while (capture.Grab()) n++;
            if (n == 0) throw new InvalidDataException($"{Locator.PathOf(v)} ({v.Id}) has no decodable frames.");
            return n;
        });
    }

    /// <summary>
    /// Decodes the frames at <paramref name="indices"/> (any order, repeats allowed, each within
    /// [0, FrameCount)) as 8-bit BGR. One sequential pass from the smallest index: seeking in AVI is
    /// keyframe-inexact, decoding forward is exact and fast (vtest.avi decodes at &gt;1000 fps).
    /// </summary>
    public Mat[] VideoFrames(MediaFile video, IReadOnlyList<int> indices)
    {
        int count = FrameCount(video);
        foreach (int i in indices)
            if (i < 0 || i >= count) throw new ArgumentOutOfRangeException(nameof(indices), $"Frame {i} is outside {video.Id}'s {count} frames.");
        int first = indices.Min(), last = indices.Max();
        var wanted = new Dictionary<int, Mat>();
        foreach (int i in indices) wanted[i] = null!;
        using var capture = Open(video);
        for (int i = 0; i < first; i++)
            if (!capture.Grab()) throw new InvalidDataException($"{video.Id}: could not skip to frame {first} (stopped at {i}).");
        for (int i = first; i <= last; i++)
        {
            if (!capture.Grab()) throw new InvalidDataException($"{video.Id}: frame {i} could not be decoded.");
            if (!wanted.ContainsKey(i)) continue;
            var frame = new Mat();
            capture.Retrieve(frame);
            if (frame.Empty()) throw new InvalidDataException($"{video.Id}: frame {i} decoded empty.");
            wanted[i] = frame;
        }
        // Repeated indices share one decoded frame; callers only read them.
        return indices.Select(i => wanted[i]).ToArray();
    }

    private VideoCapture Open(MediaFile video)
    {
        string path = Locator.PathOf(video);
        var capture = new VideoCapture(path);
        if (!capture.IsOpened())
        {
            capture.Dispose();
            throw new InvalidDataException($"OpenCV could not open {path} ({video.Id}); is libgtk-3-0 installed (./install.sh)?");
        }
        return capture;
    }

    public void Dispose()
    {
        foreach (var lazy in _photos.Values)
            if (lazy.IsValueCreated) lazy.Value.Dispose();
        _photos.Clear();
    }
}
