using System.Text.RegularExpressions;
using BiVM.Contracts;
using OpenCvSharp;

namespace BiVM.Cli.Matting;

/// <summary>How raw frames on standard input are laid out: given on the command line, since raw video has no header.</summary>
internal sealed record RawFormat(int Width, int Height, string PixelFormat, Rational Rate)
{
    public const string Bgr24 = "bgr24", Rgb24 = "rgb24";
    public static readonly string[] PixelFormats = [Bgr24, Rgb24];
    public int FrameBytes => 3 * Width * Height;
}

/// <summary>
/// Frames to matte, in order: a video file, one image, a folder of images (natural sort: frame2 before frame10),
/// a camera, or raw frames on standard input. <see cref="Read"/> decodes into the caller's Mat, which OpenCV
/// reuses while the size stays the same, so reading allocates nothing per frame.
/// </summary>
internal abstract partial class FrameSource : IDisposable
{
    private static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"];

    /// <summary>The input as the user named it.</summary>
    public required string Path { get; init; }

    /// <summary>Frame rate: exact for video files (ffprobe), the camera's, or --rate for images and raw streams.</summary>
    public Rational Rate { get; protected init; } = new(25, 1);

    /// <summary>Number of frames, when known in advance.</summary>
    public int? DeclaredFrames { get; protected init; }

    /// <summary>The video file's timing and audio (ffprobe), for the outputs to keep; null for other inputs.</summary>
    public MediaProbe? Probe { get; protected init; }

    public abstract SourceKind Kind { get; }

    /// <summary>The frames' width and height where known before the first frame is read (a video file's); null otherwise.</summary>
    public virtual (int Width, int Height)? FrameSize => null;

    /// <summary>Name of frame i, used for per-frame image outputs (e.g. "000042" or the input file's stem).</summary>
    public abstract string FrameName(int index);

    /// <summary>Decodes the next frame as 8-bit BGR into <paramref name="into"/>; false at the end of the input.</summary>
    public abstract bool Read(Mat into);

    public virtual void Dispose() { }

    /// <summary>
    /// The first <paramref name="frames"/> frames of <paramref name="path"/> (fewer if it ends first), each decoded as 8-bit
    /// BGR and handed to <paramref name="keep"/>, which returns what to keep of it (the Mat is reused for the next frame).
    /// </summary>
    /// <exception cref="UserInputException">The input cannot be opened or holds no frame.</exception>
    public static List<T> ReadFirst<T>(string path, int frames, Func<Mat, T> keep)
    {
        using var source = Open(path);
        using var bgr = new Mat();
        var kept = new List<T>();
        while (kept.Count < frames && source.Read(bgr)) kept.Add(keep(bgr));
        if (kept.Count == 0) throw new UserInputException($"{path}: no frames");
        return kept;
    }

    /// <summary>Opens INPUT: "-" is raw frames on standard input (<paramref name="raw"/> says their format), "camera:N" or /dev/videoN a camera.</summary>
    /// <param name="decoderThreads">Threads of a video file's decoder (FFmpeg); 0 for OpenCV's default, one per CPU.</param>
    public static FrameSource Open(string path, RawFormat? raw = null, Rational? rate = null, int decoderThreads = 0)
    {
        if (path == "-")
            return new RawStdinSource(raw ?? throw new UserInputException("INPUT -: raw frames on standard input need --size WIDTHxHEIGHT")) { Path = "standard input" };
        if (CameraPattern().Match(path) is { Success: true } camera)
            return CameraSource.OpenCamera(path, int.Parse(camera.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        if (Directory.Exists(path))
        {
            var files = Directory.EnumerateFiles(path)
                .Where(f => ImageExtensions.Contains(System.IO.Path.GetExtension(f).ToLowerInvariant()))
                .Order(NaturalOrder.Instance).ToArray();
            if (files.Length == 0) throw new UserInputException($"{path}: folder holds no images ({string.Join(", ", ImageExtensions)})");
            return new ImageFolderSource(files) { Path = path, Rate = rate ?? new Rational(25, 1) };
        }
        if (!File.Exists(path)) throw new UserInputException($"{path}: no such file or folder");
        if (ImageExtensions.Contains(System.IO.Path.GetExtension(path).ToLowerInvariant()))
            return new ImageFolderSource([path]) { Path = path, SingleImage = true, Rate = rate ?? new Rational(25, 1) };
        return VideoSource.OpenVideo(path, decoderThreads);
    }

    [GeneratedRegex(@"^(?:camera:|/dev/video)(\d+)$")]
    private static partial Regex CameraPattern();

    internal static Mat ReadImage(string file)
    {
        var image = Cv2.ImRead(file, ImreadModes.Color);
        if (image.Empty())
        {
            image.Dispose();
            throw new UserInputException($"{file}: cannot be decoded as an image");
        }
        return image;
    }
}

internal enum SourceKind { Video, Image, ImageFolder, Stream }

/// <summary>File names compared with runs of digits as numbers: "frame2.png" before "frame10.png", as people number frames.</summary>
internal sealed partial class NaturalOrder : IComparer<string>
{
    public static readonly NaturalOrder Instance = new();

    [GeneratedRegex(@"\d+|\D+")]
    private static partial Regex Runs();

    public int Compare(string? x, string? y)
    {
        var a = Runs().Matches(x ?? ""); var b = Runs().Matches(y ?? "");
        for (int i = 0; i < Math.Min(a.Count, b.Count); i++)
        {
            string p = a[i].Value, q = b[i].Value;
            int c = char.IsAsciiDigit(p[0]) && char.IsAsciiDigit(q[0])
                ? CompareDigits(p, q)
                : string.CompareOrdinal(p, q);
            if (c != 0) return c;
        }
        return a.Count != b.Count ? a.Count.CompareTo(b.Count) : string.CompareOrdinal(x, y);
    }

    private static int CompareDigits(string p, string q)
    {
        string u = p.TrimStart('0'), v = q.TrimStart('0');   // any length: no overflow
        return u.Length != v.Length ? u.Length.CompareTo(v.Length) : string.CompareOrdinal(u, v);
    }
}

internal sealed class ImageFolderSource(string[] files) : FrameSource
{
    private int _next;
    public bool SingleImage { get; init; }
    public override SourceKind Kind => SingleImage ? SourceKind.Image : SourceKind.ImageFolder;
    public override string FrameName(int index) => System.IO.Path.GetFileNameWithoutExtension(files[index]);

    public override bool Read(Mat into)
    {
        if (_next == files.Length) return false;
        using var image = ReadImage(files[_next++]);
        image.CopyTo(into);
        return true;
    }
}

internal sealed class VideoSource : FrameSource
{
    private readonly VideoCapture _capture;
    private int _decoded;

    private VideoSource(VideoCapture capture) => _capture = capture;

    public override SourceKind Kind => SourceKind.Video;
    public override string FrameName(int index) => index.ToString("D6", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The decoder's frame size (OpenCV's CAP_PROP_FRAME_WIDTH and HEIGHT); null where it reports none.</summary>
    public override (int Width, int Height)? FrameSize => _capture.FrameWidth > 0 && _capture.FrameHeight > 0 ? (_capture.FrameWidth, _capture.FrameHeight) : null;

    /// <summary>OpenCV's CAP_PROP_N_THREADS: an open-time parameter of its FFmpeg backend (OpenCV ≥ 4.7).</summary>
    private const int DecoderThreadsProperty = 70;

    public static VideoSource OpenVideo(string path, int decoderThreads = 0)
    {
        var (capture, threads) = Open(path, decoderThreads);
        if (!capture.IsOpened())
        {
            capture.Dispose();
            throw new UserInputException($"{path}: cannot be opened as a video or image");
        }
        try
        {
            int declared = (int)capture.Get(VideoCaptureProperties.FrameCount);
            var probe = MediaProbe.Of(path);
            return new VideoSource(capture) { Path = path, Rate = probe.FrameRate, Probe = probe, DeclaredFrames = declared > 0 ? declared : null, DecoderThreads = threads };
        }
        catch
        {
            capture.Dispose();
            throw;
        }
    }

    /// <summary>
    /// With a thread count, through OpenCV's FFmpeg backend, which takes it as an open parameter; a file FFmpeg
    /// cannot open (none we know of: the other backends read cameras and image sequences) is opened as before, by
    /// whichever backend OpenCV picks, so that its error stays the one users know.
    /// </summary>
    private static (VideoCapture Capture, int Threads) Open(string path, int decoderThreads)
    {
        if (decoderThreads > 0)
        {
            var ffmpeg = new VideoCapture(path, VideoCaptureAPIs.FFMPEG, [DecoderThreadsProperty, decoderThreads]);
            if (ffmpeg.IsOpened()) return (ffmpeg, decoderThreads);
            ffmpeg.Dispose();
        }
        return (new VideoCapture(path), 0);
    }

    /// <summary>The decoder's thread count as opened; 0 for OpenCV's default.</summary>
    public int DecoderThreads { get; private init; }

    public override bool Read(Mat into)
    {
        if (_capture.Read(into) && !into.Empty())
        {
            _decoded++;
            return true;
        }
        if (_decoded == 0)
            throw new UserInputException($"{Path}: no frame could be decoded (corrupt or empty video)");
        // A container that promises more frames than the decoder delivers is truncated or corrupt.
        // One frame of slack: some muxers round the declared count from duration × fps.
        if (DeclaredFrames is { } declared && _decoded < declared - 1)
            throw new UserInputException($"{Path}: truncated or corrupt: decoding stopped at frame {_decoded} of {declared}");
        return false;
    }

    public override void Dispose() => _capture.Dispose();
}

/// <summary>A camera (V4L2 device N): a stream that ends only when stopped (--frames, Ctrl-C) or when the camera stops.</summary>
internal sealed class CameraSource : FrameSource
{
    private readonly VideoCapture _capture;

    private CameraSource(VideoCapture capture) => _capture = capture;

    public override SourceKind Kind => SourceKind.Stream;
    public override string FrameName(int index) => index.ToString("D6", System.Globalization.CultureInfo.InvariantCulture);

    public static CameraSource OpenCamera(string path, int device)
    {
        var capture = new VideoCapture(device, VideoCaptureAPIs.V4L2);
        if (!capture.IsOpened())
        {
            capture.Dispose();
            throw new UserInputException($"{path}: camera {device} cannot be opened (is /dev/video{device} there and free?)");
        }
        double fps = capture.Get(VideoCaptureProperties.Fps);
        return new CameraSource(capture) { Path = path, Rate = Rational.FromDouble(fps is > 0 and < 1000 ? fps : 30) };
    }

    public override bool Read(Mat into) => _capture.Read(into) && !into.Empty();

    public override void Dispose() => _capture.Dispose();
}

/// <summary>
/// Raw frames on standard input, as an FFmpeg or GStreamer chain writes them (<c>-f rawvideo -pix_fmt bgr24</c>):
/// exactly W·H·3 bytes per frame, no header. The stream ends at end of input; an end inside a frame is an error.
/// </summary>
internal sealed class RawStdinSource(RawFormat format) : FrameSource
{
    private readonly Stream _stdin = Console.OpenStandardInput();
    private int _frames;

    public RawFormat Format { get; } = format;
    public override SourceKind Kind => SourceKind.Stream;
    public override string FrameName(int index) => index.ToString("D6", System.Globalization.CultureInfo.InvariantCulture);

    public override bool Read(Mat into)
    {
        into.Create(Format.Height, Format.Width, MatType.CV_8UC3);
        var bytes = into.AsSpan<byte>();
        int got = 0;
        while (got < bytes.Length)
        {
            int n = _stdin.Read(bytes[got..]);
            if (n == 0) break;
            got += n;
        }
        if (got == 0) return false;
        if (got < bytes.Length)
            throw new UserInputException($"standard input ended inside frame {_frames} ({got} of {bytes.Length} bytes of a {Format.Width}x{Format.Height} {Format.PixelFormat} frame): is --size right?");
        if (Format.PixelFormat == RawFormat.Rgb24) Cv2.CvtColor(into, into, ColorConversionCodes.RGB2BGR);
        _frames++;
        return true;
    }

    public override void Dispose() => _stdin.Dispose();
}
