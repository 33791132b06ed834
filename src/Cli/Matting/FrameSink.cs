using BiVM.Contracts;
using OpenCvSharp;

namespace BiVM.Cli.Matting;

/// <summary>
/// Where one output stream goes: a video file, one image, or a folder of PNGs. Everything is
/// written under a temporary name in the destination's folder and renamed by <see cref="Commit"/>,
/// so a failed or interrupted run leaves no partial output (and keeps any older file intact).
/// </summary>
internal abstract class FrameSink : IDisposable
{
    private static readonly string[] VideoExtensions = [".mp4", ".avi", ".mkv"];
    private static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"];

    protected FrameSink(string path, string option)
    {
        Path = path;
        Option = option;
        string dir = OutputPath.RequireFolder(option, path);
        TempPath = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileNameWithoutExtension(path)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}{System.IO.Path.GetExtension(path)}");
    }

    public string Path { get; }
    protected string Option { get; }
    protected string TempPath { get; }
    public int Written { get; private set; }

    /// <summary>Writes one frame (BGR for colour sinks, 8-bit grey for alpha sinks).</summary>
    public void Write(Mat frame, string frameName)
    {
        WriteCore(frame, frameName);
        Written++;
    }

    protected abstract void WriteCore(Mat frame, string frameName);

    /// <summary>Closes the output and moves it into place.</summary>
    public abstract void Commit();

    /// <summary>Removes whatever was written (the destination is untouched).</summary>
    public abstract void Dispose();

    /// <param name="path">The destination the user named.</param>
    /// <param name="option">The option it came from, for error messages (e.g. "--alpha").</param>
    /// <param name="isColor">False for alpha (single-channel) outputs.</param>
    /// <param name="lossless">Reject lossy containers (alpha must survive exactly).</param>
    public static FrameSink Create(string path, string option, double fps, bool isColor, bool lossless, bool singleFrame)
    {
        string ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
        if (VideoExtensions.Contains(ext))
        {
            if (lossless && ext == ".mp4")
                throw new UserInputException($"{option} {path}: alpha must be stored losslessly: use .mkv or .avi (FFV1) or a folder of PNGs");
            return new VideoSink(path, option, fps, isColor, lossless);
        }
        if (ImageExtensions.Contains(ext))
        {
            if (!singleFrame)
                throw new UserInputException($"{option} {path}: an image file holds one frame; name a video file (.mp4, .mkv, .avi) or a folder");
            if (lossless && ext is ".jpg" or ".jpeg")
                throw new UserInputException($"{option} {path}: alpha must be stored losslessly: use .png");
            return new ImageSink(path, option);
        }
        // A folder only when the user said so: a path ending in a separator, or an existing folder. Anything else
        // is a typo such as x.xyz, which would otherwise silently become a folder of PNGs.
        if (OutputPath.NamesFolder(path)) return new PngFolderSink(path, option);
        string image = singleFrame ? $"an image ({string.Join(", ", ImageExtensions)}), " : "";
        throw new UserInputException($"{option} {path}: unknown kind of output ({(ext.Length == 0 ? "no extension" : ext)}): name a video ({string.Join(", ", VideoExtensions)}), "
            + $"{image}or a folder of PNGs by ending the path with '{System.IO.Path.DirectorySeparatorChar}'");
    }
}

internal sealed class VideoSink : FrameSink
{
    private readonly double _fps;
    private readonly bool _isColor;
    private readonly int _fourcc;
    private VideoWriter? _writer;
    private Size _size;

    public VideoSink(string path, string option, double fps, bool isColor, bool lossless) : base(path, option)
    {
        _fps = fps;
        _isColor = isColor;
        string ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
        // Codecs that work with OpenCV's FFmpeg backend here: mp4v, MJPG, FFV1 (lossless).
        _fourcc = lossless || ext == ".mkv" ? VideoWriter.FourCC('F', 'F', 'V', '1')
            : ext == ".avi" ? VideoWriter.FourCC('M', 'J', 'P', 'G')
            : VideoWriter.FourCC('m', 'p', '4', 'v');
    }

    protected override void WriteCore(Mat frame, string frameName)
    {
        if (_writer is null)
        {
            _size = frame.Size();
            _writer = new VideoWriter(TempPath, _fourcc, _fps, _size, _isColor);
            if (!_writer.IsOpened())
                throw new UserInputException($"{Option} {Path}: cannot open a video writer for it (is the folder writable?)");
        }
        if (frame.Size() != _size)
            throw new UserInputException($"{Option} {Path}: frame {frameName} is {frame.Width}×{frame.Height} but the video is {_size.Width}×{_size.Height}; write frames of different sizes to a folder instead");
        _writer.Write(frame);
    }

    public override void Commit()
    {
        _writer?.Release();
        _writer?.Dispose();
        _writer = null;
        if (!File.Exists(TempPath)) throw new UserInputException($"{Option} {Path}: nothing was written");
        File.Move(TempPath, Path, overwrite: true);
    }

    public override void Dispose()
    {
        _writer?.Dispose();
        _writer = null;
        if (File.Exists(TempPath)) File.Delete(TempPath);
    }
}

internal sealed class ImageSink(string path, string option) : FrameSink(path, option)
{
    protected override void WriteCore(Mat frame, string frameName)
    {
        if (!Cv2.ImWrite(TempPath, frame))
            throw new UserInputException($"{Option} {Path}: cannot be written");
    }

    public override void Commit() => File.Move(TempPath, Path, overwrite: true);

    public override void Dispose()
    {
        if (File.Exists(TempPath)) File.Delete(TempPath);
    }
}

/// <summary>A folder of PNGs named after the input frames; built in a temporary folder, then moved into place.</summary>
internal sealed class PngFolderSink : FrameSink
{
    public PngFolderSink(string path, string option) : base(System.IO.Path.TrimEndingDirectorySeparator(path), option)
    {
        Directory.CreateDirectory(TempPath);
    }

    protected override void WriteCore(Mat frame, string frameName)
    {
        string file = System.IO.Path.Combine(TempPath, frameName + ".png");
        if (!Cv2.ImWrite(file, frame))
            throw new UserInputException($"{Option} {Path}: cannot write {frameName}.png");
    }

    public override void Commit()
    {
        if (File.Exists(Path)) throw new UserInputException($"{Option} {Path}: is a file, not a folder");
        if (Directory.Exists(Path))
        {
            // Replace the old folder only now that the new one is complete.
            string old = TempPath + ".old";
            Directory.Move(Path, old);
            Directory.Move(TempPath, Path);
            Directory.Delete(old, recursive: true);
        }
        else
        {
            Directory.Move(TempPath, Path);
        }
    }

    public override void Dispose()
    {
        if (Directory.Exists(TempPath)) Directory.Delete(TempPath, recursive: true);
    }
}
