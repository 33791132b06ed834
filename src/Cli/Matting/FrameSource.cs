using BiVM.Contracts;
using OpenCvSharp;

namespace BiVM.Cli.Matting;

/// <summary>Frames to matte, in order: a video file, one image, or a folder of images sorted by name.</summary>
internal abstract class FrameSource : IDisposable
{
    private static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"];

    public required string Path { get; init; }

    /// <summary>Frames per second of a video; 25 for images (only used when images are written as video).</summary>
    public double Fps { get; protected init; } = 25;

    /// <summary>Number of frames, when the container declares it.</summary>
    public int? DeclaredFrames { get; protected init; }

    public abstract SourceKind Kind { get; }

    /// <summary>Name of frame i, used for per-frame image outputs (e.g. "0042" or the input file's stem).</summary>
    public abstract string FrameName(int index);

    /// <summary>BGR 8-bit frames; each Mat is owned by the caller.</summary>
    public abstract IEnumerable<Mat> Frames();

    public virtual void Dispose() { }

    public static FrameSource Open(string path)
    {
        if (Directory.Exists(path))
        {
            var files = Directory.EnumerateFiles(path)
                .Where(f => ImageExtensions.Contains(System.IO.Path.GetExtension(f).ToLowerInvariant()))
                .Order(StringComparer.Ordinal).ToArray();
            if (files.Length == 0) throw new UserInputException($"{path}: folder holds no images ({string.Join(", ", ImageExtensions)})");
            return new ImageFolderSource(files) { Path = path };
        }
        if (!File.Exists(path)) throw new UserInputException($"{path}: no such file or folder");
        if (ImageExtensions.Contains(System.IO.Path.GetExtension(path).ToLowerInvariant()))
            return new ImageFolderSource([path]) { Path = path, SingleImage = true };
        return VideoSource.OpenVideo(path);
    }

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

internal enum SourceKind { Video, Image, ImageFolder }

internal sealed class ImageFolderSource(string[] files) : FrameSource
{
    public bool SingleImage { get; init; }
    public override SourceKind Kind => SingleImage ? SourceKind.Image : SourceKind.ImageFolder;
    public override string FrameName(int index) => System.IO.Path.GetFileNameWithoutExtension(files[index]);

    public override IEnumerable<Mat> Frames()
    {
        foreach (var file in files) yield return ReadImage(file);
    }
}

internal sealed class VideoSource : FrameSource
{
    private readonly VideoCapture _capture;

    private VideoSource(VideoCapture capture) => _capture = capture;

    public override SourceKind Kind => SourceKind.Video;
    public override string FrameName(int index) => index.ToString("D6");

    public static VideoSource OpenVideo(string path)
    {
        var capture = new VideoCapture(path);
        if (!capture.IsOpened())
        {
            capture.Dispose();
            throw new UserInputException($"{path}: cannot be opened as a video or image");
        }
        int declared = (int)capture.Get(VideoCaptureProperties.FrameCount);
        double fps = capture.Get(VideoCaptureProperties.Fps);
        return new VideoSource(capture)
        {
            Path = path,
            Fps = fps is > 0 and < 1000 ? fps : 25,
            DeclaredFrames = declared > 0 ? declared : null,
        };
    }

    public override IEnumerable<Mat> Frames()
    {
        int index = 0;
        while (true)
        {
            var frame = new Mat();
            if (!_capture.Read(frame) || frame.Empty())
            {
                frame.Dispose();
                break;
            }
            index++;
            yield return frame;
        }
        if (index == 0)
            throw new UserInputException($"{Path}: no frame could be decoded (corrupt or empty video)");
        // A container that promises more frames than the decoder delivers is truncated or corrupt.
        // One frame of slack: some muxers round the declared count from duration × fps.
        if (DeclaredFrames is { } declared && index < declared - 1)
            throw new UserInputException($"{Path}: truncated or corrupt: decoding stopped at frame {index} of {declared}");
    }

    public override void Dispose() => _capture.Dispose();
}
