using System.Diagnostics;
using System.Globalization;
using BiVM.Contracts;
using OpenCvSharp;

namespace BiVM.Cli.Matting;

/// <summary>What a sink stores per pixel: BGR colour, 8-bit alpha, or BGRA (foreground with its alpha).</summary>
internal enum SinkContent { Color, Alpha, ColorWithAlpha }

/// <summary>
/// The input's timing and audio that a video output keeps: the exact frame rate, the video's offset in the file,
/// and the audio streams to copy (none with --no-audio, for alpha outputs, and for inputs without audio); and the
/// encoder's threads (ffmpeg's <c>-threads</c>; 0 for its default: see <see cref="CoreSchedule.SideThreads(int)"/>)
/// and the H.264 settings of .mp4 outputs, which also carry the input's colour tags (<see cref="FfmpegVideoSink.ColourTags"/>;
/// null: the frames came as RGB).
/// </summary>
internal sealed record OutputTiming(Rational Rate, string? AudioFrom = null, IReadOnlyList<AudioStream>? Audio = null, double VideoOffset = 0, double? MaxSeconds = null, int EncoderThreads = 0,
    H264Settings? H264 = null, VideoColour? InputColour = null)
{
    public bool HasAudio => AudioFrom is not null && Audio is { Count: > 0 };
}

/// <summary>
/// x264's speed preset and constant rate factor for .mp4 outputs (<c>bivm matte --preset --crf</c>). The default,
/// veryfast at crf 18, was chosen on the 1080p clip by CPU time, file size and SSIM (README, "Encoding").
/// </summary>
/// <param name="Explicit">Whether the user set either (then a run without an .mp4 output is refused: the settings would do nothing).</param>
internal sealed record H264Settings(string Preset, int Crf, bool Explicit)
{
    public const string DefaultPreset = "veryfast";
    public const int DefaultCrf = 18;

    /// <summary>x264's presets, fastest first.</summary>
    public static readonly string[] Presets = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"];

    public static readonly H264Settings Default = new(DefaultPreset, DefaultCrf, Explicit: false);

    public static H264Settings From(string? preset, int? crf) =>
        preset is null && crf is null ? Default : new(preset ?? DefaultPreset, crf ?? DefaultCrf, Explicit: true);
}

/// <summary>
/// Where one output stream goes: a video file (encoded by ffmpeg), one image, a folder of PNGs, or raw frames on
/// standard output ("-"). Files are written under a temporary name in the destination's folder and renamed by
/// <see cref="Commit"/>, so a failed or interrupted run leaves no partial output (and keeps any older file intact).
/// </summary>
internal abstract class FrameSink : IDisposable
{
    private static readonly string[] VideoExtensions = [".mp4", ".avi", ".mkv"];
    private static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"];

    protected FrameSink(string path, string option, bool temporary = true)
    {
        Path = path;
        Option = option;
        if (!temporary) { TempPath = path; return; }
        string dir = OutputPath.RequireFolder(option, path);
        TempPath = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileNameWithoutExtension(path)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}{System.IO.Path.GetExtension(path)}");
    }

    public string Path { get; }
    protected string Option { get; }
    protected string TempPath { get; }
    public int Written { get; private set; }

    /// <summary>What the sink stores: the frames given to <see cref="Write"/> are BGR, grey or BGRA accordingly.</summary>
    public SinkContent Content { get; private init; }

    /// <summary>Whether this sink writes to standard output (then nothing else may).</summary>
    public virtual bool IsStandardOutput => false;

    /// <summary>Writes one frame (BGR for colour sinks, 8-bit grey for alpha sinks, BGRA for colour with alpha).</summary>
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

    /// <param name="path">The destination the user named; "-" is raw frames on standard output.</param>
    /// <param name="option">The option it came from, for error messages (e.g. "--alpha").</param>
    /// <param name="timing">Frame rate and audio that a video output keeps.</param>
    /// <param name="content">Colour, alpha (must be stored losslessly), or colour with alpha.</param>
    /// <param name="singleFrame">The input is one image, so an image file may hold the output.</param>
    /// <param name="rawFormat">Pixel order of raw frames on standard output.</param>
    public static FrameSink Create(string path, string option, OutputTiming timing, SinkContent content, bool singleFrame, string rawFormat = RawFormat.Bgr24)
    {
        if (path == "-")
        {
            if (content != SinkContent.Color) throw new UserInputException($"{option} -: only the composite (--out) can go to standard output");
            return new RawStdoutSink(option, rawFormat) { Content = content };
        }
        string ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
        bool lossless = content == SinkContent.Alpha;
        // Only PNG keeps a fourth channel: elsewhere the foreground is colour, and its alpha is --alpha's output.
        bool keepsAlpha = ext is ".png" or ".tif" or ".tiff" || !ImageExtensions.Contains(ext) && !VideoExtensions.Contains(ext);   // a folder: PNGs
        if (content == SinkContent.ColorWithAlpha && !keepsAlpha) content = SinkContent.Color;
        if (VideoExtensions.Contains(ext))
        {
            if (lossless && ext == ".mp4")
                throw new UserInputException($"{option} {path}: alpha must be stored losslessly: use .mkv or .avi (FFV1) or a folder of PNGs");
            return new FfmpegVideoSink(path, option, timing, content) { Content = content };
        }
        if (ImageExtensions.Contains(ext))
        {
            if (!singleFrame)
                throw new UserInputException($"{option} {path}: an image file holds one frame; name a video file (.mp4, .mkv, .avi) or a folder");
            if (lossless && ext is ".jpg" or ".jpeg")
                throw new UserInputException($"{option} {path}: alpha must be stored losslessly: use .png");
            return new ImageSink(path, option) { Content = content };
        }
        // A folder only when the user said so: a path ending in a separator, or an existing folder. Anything else
        // is a typo such as x.xyz, which would otherwise silently become a folder of PNGs.
        if (OutputPath.NamesFolder(path)) return new PngFolderSink(path, option) { Content = content };
        string image = singleFrame ? $"an image ({string.Join(", ", ImageExtensions)}), " : "";
        throw new UserInputException($"{option} {path}: unknown kind of output ({(ext.Length == 0 ? "no extension" : ext)}): name a video ({string.Join(", ", VideoExtensions)}), "
            + $"{image}or a folder of PNGs by ending the path with '{System.IO.Path.DirectorySeparatorChar}'");
    }
}

/// <summary>
/// A video encoded by an ffmpeg process fed raw frames through a pipe: the encoder runs beside the matting (its
/// pipe is the queue: a full pipe blocks the writer, which is the back-pressure), writes the input's exact rate
/// (24000/1001 stays 24000/1001), and muxes the input's audio streams, copied packet for packet when the
/// container can hold their codec (re-encoded otherwise, and said so).
/// </summary>
internal sealed class FfmpegVideoSink : FrameSink
{
    // Audio codecs each container holds as they are (-c:a copy); others are re-encoded to the container's usual one.
    private static readonly Dictionary<string, (string[] Copy, string Encode)> AudioPolicy = new()
    {
        [".mp4"] = (["aac", "mp3", "alac", "ac3", "eac3", "opus", "flac", "mp2"], "aac"),
        [".avi"] = (["mp3", "mp2", "ac3", "aac", "pcm_s16le", "pcm_u8", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_alaw", "pcm_mulaw"], "pcm_s16le"),
        [".mkv"] = ([], ""),   // Matroska holds any codec FFmpeg reads
    };

    private readonly OutputTiming _timing;
    private readonly SinkContent _content;
    private readonly string _ext;
    private Process? _process;
    private Stream? _stdin;
    private readonly StderrTail _stderr = new();
    private Size _size;

    public FfmpegVideoSink(string path, string option, OutputTiming timing, SinkContent content) : base(path, option)
    {
        _timing = timing;
        _content = content;
        _ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
        Ffmpeg.Locate("ffmpeg");   // a missing ffmpeg is reported before any frame is matted
    }

    /// <summary>A note for the user when the audio cannot be copied as it is (null when it is copied or absent).</summary>
    public string? AudioNote => _timing.HasAudio && AudioCodec() is { } codec && codec != "copy"
        ? $"{Option} {Path}: audio ({string.Join(", ", _timing.Audio!.Select(a => a.Codec).Distinct())}) re-encoded to {codec}: {_ext} cannot hold it as it is"
        : null;

    private string? AudioCodec()
    {
        if (!_timing.HasAudio) return null;
        var (copy, encode) = AudioPolicy[_ext];
        return copy.Length == 0 || _timing.Audio!.All(a => copy.Contains(a.Codec)) ? "copy" : encode;
    }

    /// <summary>The ffmpeg arguments for frames of this size (public for the tests that check them).</summary>
    public IReadOnlyList<string> Arguments(int width, int height)
    {
        var args = new List<string> { "-hide_banner", "-loglevel", "error", "-nostats", "-y",
            "-f", "rawvideo", "-pix_fmt", _content == SinkContent.Alpha ? "gray" : "bgr24",
            "-video_size", $"{width}x{height}", "-framerate", _timing.Rate.ToString() };
        if (_timing.VideoOffset > 0) args.AddRange(["-itsoffset", Seconds(_timing.VideoOffset)]);
        args.AddRange(["-i", "pipe:0"]);
        string? audio = _content == SinkContent.Color ? AudioCodec() : null;
        if (audio is not null) args.AddRange(["-i", _timing.AudioFrom!]);
        args.AddRange(["-map", "0:v:0"]);
        if (audio is not null) args.AddRange(["-map", "1:a", "-c:a", audio]);
        args.AddRange(VideoCodec(width, height));
        if (_timing.EncoderThreads > 0) args.AddRange(["-threads", _timing.EncoderThreads.ToString(CultureInfo.InvariantCulture)]);
        if (_timing.MaxSeconds is { } max) args.AddRange(["-t", Seconds(max + _timing.VideoOffset)]);
        args.Add(TempPath);
        return args;
    }

    private H264Settings H264 => _timing.H264 ?? H264Settings.Default;

    /// <summary>Whether this output is encoded with x264 (an .mp4 of colour frames), which --preset and --crf set.</summary>
    public bool IsH264 => _content != SinkContent.Alpha && _ext is not (".mkv" or ".avi");

    private IEnumerable<string> VideoCodec(int width, int height)
    {
        if (_content == SinkContent.Alpha) return ["-c:v", "ffv1", "-pix_fmt", "gray"];
        return _ext switch
        {
            ".mkv" => ["-c:v", "ffv1", "-pix_fmt", "bgr0"],                       // lossless
            ".avi" => ["-c:v", "mjpeg", "-q:v", "2", "-pix_fmt", "yuvj420p"],
            // 4:2:0 needs even sizes; odd ones keep full chroma.
            _ => ["-c:v", "libx264", "-preset", H264.Preset, "-crf", H264.Crf.ToString(CultureInfo.InvariantCulture),
                "-pix_fmt", width % 2 == 0 && height % 2 == 0 ? "yuv420p" : "yuv444p", .. ColourTags(_timing.InputColour), "-movflags", "+faststart"],
        };
    }

    /// <summary>
    /// How the H.264 output says its YUV is to be read. FFmpeg converts our BGR frames to YUV with BT.601 at limited
    /// range, and OpenCV's decoder made them from the input's YUV with BT.601 too, whatever the input's tags say
    /// (measured: a BT.709 test colour of RGB 48, 192, 96 decoded to 57, 209, 95), so the two conversions undo each
    /// other and the output's YUV is the input's wherever the picture is unchanged. It must then be read as the input's
    /// was: with the input's own matrix, primaries and transfer when the input states them; untagged when a YUV input
    /// states nothing (players guess alike for both); BT.601 (smpte170m) when the frames came as RGB (an RGB codec,
    /// images, raw frames; <paramref name="input"/> null), where ours is the only conversion. Range: always limited.
    /// </summary>
    internal static IReadOnlyList<string> ColourTags(VideoColour? input)
    {
        if (input is null || input.IsRgb) return ["-colorspace", "smpte170m", "-color_range", "tv"];
        var tags = new List<string>();
        if (input.Matrix is { } m) tags.AddRange(["-colorspace", m]);
        if (input.Primaries is { } p) tags.AddRange(["-color_primaries", p]);
        if (input.Transfer is { } t) tags.AddRange(["-color_trc", t]);
        tags.AddRange(["-color_range", "tv"]);
        return tags;
    }

    private static string Seconds(double s) => s.ToString("0.######", CultureInfo.InvariantCulture);

    protected override void WriteCore(Mat frame, string frameName)
    {
        if (_process is null)
        {
            _size = frame.Size();
            var start = Ffmpeg.StartInfo("ffmpeg", Arguments(_size.Width, _size.Height));
            start.RedirectStandardInput = true;
            _process = Process.Start(start) ?? throw new InvalidOperationException("ffmpeg did not start");
            _stderr.Attach(_process);
            _stdin = _process.StandardInput.BaseStream;
        }
        if (frame.Size() != _size)
            throw new UserInputException($"{Option} {Path}: frame {frameName} is {frame.Width}×{frame.Height} but the video is {_size.Width}×{_size.Height}; write frames of different sizes to a folder instead");
        try
        {
            _stdin!.Write(frame.AsSpan<byte>());
        }
        catch (IOException)
        {
            throw Failed();
        }
    }

    private UserInputException Failed()
    {
        _process!.WaitForExit(5000);
        return new UserInputException($"{Option} {Path}: ffmpeg could not write it: {Ffmpeg.LastLine(_stderr.ToString())}");
    }

    public override void Commit()
    {
        if (_process is null) throw new UserInputException($"{Option} {Path}: nothing was written");
        try { _stdin!.Dispose(); }
        catch (IOException) { throw Failed(); }
        _process.WaitForExit();
        if (_process.ExitCode != 0 || !File.Exists(TempPath)) throw Failed();
        File.Move(TempPath, Path, overwrite: true);
    }

    public override void Dispose()
    {
        if (_process is not null)
        {
            if (!_process.HasExited)
            {
                try { _process.Kill(); } catch (InvalidOperationException) { }   // it had just exited
                _process.WaitForExit();
            }
            _process.Dispose();
            _process = null;
        }
        if (File.Exists(TempPath)) File.Delete(TempPath);
    }
}

/// <summary>
/// Raw frames on standard output (bgr24 or rgb24, no header), for an FFmpeg or GStreamer chain: e.g.
/// <c>bivm matte in.mp4 --out - | ffmpeg -f rawvideo -pix_fmt bgr24 -video_size WxH -framerate R -i - out.mkv</c>.
/// A stream has no temporary name: frames go out as they are made.
/// </summary>
internal sealed class RawStdoutSink(string option, string pixelFormat) : FrameSink("-", option, temporary: false)
{
    private readonly Stream _stdout = Console.OpenStandardOutput();
    private readonly Mat _rgb = new();

    public override bool IsStandardOutput => true;

    protected override void WriteCore(Mat frame, string frameName)
    {
        var bytes = frame;
        if (pixelFormat == RawFormat.Rgb24)
        {
            Cv2.CvtColor(frame, _rgb, ColorConversionCodes.BGR2RGB);
            bytes = _rgb;
        }
        try
        {
            _stdout.Write(bytes.AsSpan<byte>());
        }
        catch (IOException e)
        {
            throw new UserInputException($"--out -: standard output was closed by its reader after {Written} frame(s) ({e.Message})");
        }
    }

    public override void Commit() => _stdout.Flush();

    public override void Dispose()
    {
        _rgb.Dispose();
        _stdout.Dispose();
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
    public PngFolderSink(string path, string option) : base(path.TrimEnd('/'), option)
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
