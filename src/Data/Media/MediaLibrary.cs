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
    private readonly ConcurrentDictionary<MediaFile, Lazy<Mat[]?>> _videoCache = new();

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

    /// <summary>Decodes the photos and the short videos up front, in parallel (the first clips are otherwise slow).</summary>
    public void Preload(IEnumerable<MediaFile> files)
    {
        Parallel.ForEach(files, file =>
        {
            if (file.Kind == MediaKind.Photo) Photo(file);
            else VideoFrames(file, [0]).Single().Dispose(); // counts frames, fills the cache for short videos
        });
    }

    /// <summary>Number of decodable frames (counted by decoding, since AVI headers can be off).</summary>
    public int FrameCount(MediaFile video)
    {
        if (video.Kind != MediaKind.Video) throw new ArgumentException($"{video.Id} is a {video.Kind}, not a video.", nameof(video));
        if (Cached(video) is { } frames) return frames.Length;
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
    /// The frames at <paramref name="indices"/> (any order, repeats allowed, each within
    /// [0, FrameCount)) as 8-bit BGR, downscaled to a long side of at most <see cref="VideoLongSide"/>.
    /// The caller owns (and disposes) the returned Mats. Videos whose downscaled frames fit in
    /// <see cref="VideoCacheBytes"/> are decoded once and kept (Megamind.avi: 270 frames, 137 MB);
    /// longer ones are decoded per request. Both paths give identical pixels.
    /// </summary>
    public Mat[] VideoFrames(MediaFile video, IReadOnlyList<int> indices)
    {
        int count = FrameCount(video);
        foreach (int i in indices)
            if (i < 0 || i >= count) throw new ArgumentOutOfRangeException(nameof(indices), $"Frame {i} is outside {video.Id}'s {count} frames.");
        if (Cached(video) is { } cached)
            return indices.Select(i => cached[i].Clone()).ToArray();
        return Decode(video, indices);
    }

    private Mat[]? Cached(MediaFile video) =>
        _videoCache.GetOrAdd(video, v => new Lazy<Mat[]?>(() => DecodeAllIfSmall(v), LazyThreadSafetyMode.ExecutionAndPublication)).Value;

    public const int VideoLongSide = 480;
    public const long VideoCacheBytes = 256L << 20;

    /// <summary>Every frame, downscaled, when the header's frame count says they fit the cache budget; else null.</summary>
    private Mat[]? DecodeAllIfSmall(MediaFile video)
    {
        var frames = new List<Mat>();
        using (var capture = Open(video))
        {
            var (w, h) = Downscaled(capture.FrameWidth, capture.FrameHeight);
            if ((long)Math.Max(capture.FrameCount, 1) * w * h * 3 > VideoCacheBytes) return null;
            using var raw = new Mat();
            while (capture.Read(raw) && !raw.Empty()) frames.Add(DownscaledCopy(raw));
        }
        if (frames.Count == 0) throw new InvalidDataException($"{Locator.PathOf(video)} ({video.Id}) has no decodable frames.");
        return frames.ToArray();
    }

    private static Mat DownscaledCopy(Mat raw)
    {
        var (w, h) = Downscaled(raw.Width, raw.Height);
        var frame = new Mat();
        if (w == raw.Width && h == raw.Height) raw.CopyTo(frame);
        else Cv2.Resize(raw, frame, new Size(w, h), 0, 0, InterpolationFlags.Area);
        return frame;
    }

    private static (int Width, int Height) Downscaled(int width, int height)
    {
        double scale = Math.Min(1.0, (double)VideoLongSide / Math.Max(width, height));
        return ((int)Math.Round(width * scale), (int)Math.Round(height * scale));
    }

    /// <summary>
    /// One pass from the smallest index (seeking first when the container seeks exactly), decoding
    /// only the wanted frames; repeated indices get separate copies.
    /// </summary>
    private Mat[] Decode(MediaFile video, IReadOnlyList<int> indices)
    {
        int first = indices.Min(), last = indices.Max();
        var wanted = new Dictionary<int, Mat>();
        using var capture = Open(video);
        // FFmpeg's seek lands on the keyframe before and decodes forward to the exact frame; if a
        // container reports another position, fall back to decoding from the start.
        if (first > 0 && !(capture.Set(VideoCaptureProperties.PosFrames, first) && (int)capture.Get(VideoCaptureProperties.PosFrames) == first))
        {
            capture.Set(VideoCaptureProperties.PosFrames, 0);
            for (int i = 0; i < first; i++)
                if (!capture.Grab()) throw new InvalidDataException($"{video.Id}: could not skip to frame {first} (stopped at {i}).");
        }
        var needed = indices.ToHashSet();
        using var raw = new Mat();
        try
        {
            for (int i = first; i <= last; i++)
            {
                if (!capture.Grab()) throw new InvalidDataException($"{video.Id}: frame {i} could not be decoded.");
                if (!needed.Contains(i)) continue;
                capture.Retrieve(raw);
                if (raw.Empty()) throw new InvalidDataException($"{video.Id}: frame {i} decoded empty.");
                wanted[i] = DownscaledCopy(raw);
            }
            var result = new Mat[indices.Count];
            var used = new HashSet<int>();
            for (int k = 0; k < result.Length; k++)
                result[k] = used.Add(indices[k]) ? wanted[indices[k]] : wanted[indices[k]].Clone();
            return result;
        }
        catch
        {
            foreach (var m in wanted.Values) m.Dispose();
            throw;
        }
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
        foreach (var lazy in _videoCache.Values)
            if (lazy.IsValueCreated && lazy.Value is { } frames)
                foreach (var frame in frames) frame.Dispose();
        _videoCache.Clear();
    }
}
