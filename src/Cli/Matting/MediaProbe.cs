using System.Globalization;
using System.Text.Json;
using BiVM.Contracts;

namespace BiVM.Cli.Matting;

/// <summary>An audio stream of the input, as ffprobe reports it.</summary>
internal sealed record AudioStream(int Index, string Codec);

/// <summary>
/// How the input's video stream says its pixels are to be read, as ffprobe reports it: the YUV → RGB matrix
/// (<c>color_space</c>: bt709, smpte170m, …; gbr for RGB codecs), primaries and transfer. Null where it says nothing.
/// </summary>
internal sealed record VideoColour(string? Matrix, string? Primaries, string? Transfer)
{
    /// <summary>Whether the stream stores RGB itself (FFV1 bgr0, PNG, …): its frames reach us exactly, with no matrix.</summary>
    public bool IsRgb => Matrix is "gbr" or "rgb";
}

/// <summary>
/// What ffprobe says about a video file: the exact frame rate, where the video starts relative to the file (for
/// audio sync), and the audio streams. A variable-frame-rate video is refused here, before any work: its frames
/// have no single rate to write them at, and keeping every frame at a constant rate would shift the audio.
/// </summary>
internal sealed record MediaProbe(Rational FrameRate, double VideoStart, double FileStart, IReadOnlyList<AudioStream> Audio, string Container,
    VideoColour? Colour = null)
{
    /// <summary>How far the video's first frame is after the file's start (0 for most files); the output keeps it.</summary>
    public double VideoOffset => Math.Max(0, VideoStart - FileStart);

    public static MediaProbe Of(string path)
    {
        var (code, json, err) = Ffmpeg.Run("ffprobe", ["-v", "error", "-print_format", "json", "-show_format",
            "-show_entries", "stream=index,codec_type,codec_name,r_frame_rate,avg_frame_rate,time_base,start_time,color_space,color_primaries,color_transfer", path]);
        if (code != 0) throw new UserInputException($"{path}: ffprobe cannot read it: {Ffmpeg.LastLine(err)}");
        using var doc = JsonDocument.Parse(json);
        var streams = doc.RootElement.TryGetProperty("streams", out var s) ? s.EnumerateArray().ToList() : [];
        var video = streams.FirstOrDefault(e => Text(e, "codec_type") == "video");
        if (video.ValueKind == JsonValueKind.Undefined) throw new UserInputException($"{path}: has no video stream");
        var format = doc.RootElement.GetProperty("format");

        if (!Rational.TryParse(Text(video, "avg_frame_rate"), out var rate) && !Rational.TryParse(Text(video, "r_frame_rate"), out rate))
            throw new UserInputException($"{path}: its video stream states no frame rate");
        Rational.TryParse(Text(video, "time_base"), out var timeBase);
        CheckConstantRate(path, rate, timeBase);

        var audio = streams.Where(e => Text(e, "codec_type") == "audio")
            .Select(e => new AudioStream(e.GetProperty("index").GetInt32(), Text(e, "codec_name") ?? "unknown")).ToList();
        return new MediaProbe(rate, Number(video, "start_time"), Number(format, "start_time"), audio, Text(format, "format_name") ?? "",
            new VideoColour(Stated(video, "color_space"), Stated(video, "color_primaries"), Stated(video, "color_transfer")));
    }

    /// <summary>
    /// Every frame interval must be one frame at <paramref name="rate"/>, to within one tick of the container's time
    /// base (Matroska stores milliseconds: 24000/1001 fps gives intervals of 41 and 42 ms).
    /// </summary>
    private static void CheckConstantRate(string path, Rational rate, Rational timeBase)
    {
        var (code, csv, _) = Ffmpeg.Run("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts", "-of", "csv=p=0", path]);
        if (code != 0 || timeBase.Numerator == 0) return;   // no timestamps to judge by: take the stated rate
        var pts = new List<long>();
        foreach (var line in csv.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            if (long.TryParse(line.TrimEnd(','), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long t)) pts.Add(t);
        if (pts.Count < 3) return;
        pts.Sort();
        double tick = timeBase.Value, frame = 1 / rate.Value;
        double shortest = double.MaxValue, longest = 0;
        for (int i = 1; i < pts.Count; i++)
        {
            double interval = (pts[i] - pts[i - 1]) * tick;
            shortest = Math.Min(shortest, interval);
            longest = Math.Max(longest, interval);
        }
        double slack = tick + 1e-6;
        if (shortest < frame - slack || longest > frame + slack)
            throw new UserInputException(string.Create(CultureInfo.InvariantCulture,
                $"{path}: variable frame rate (frame intervals from {shortest * 1000:F1} to {longest * 1000:F1} ms, stated rate {rate}); convert it to a constant rate first, e.g. ffmpeg -i IN -fps_mode cfr -r {rate} OUT.mkv"));
    }

    /// <summary>A colour property, or null where ffprobe reports none or "unknown" / "unspecified".</summary>
    private static string? Stated(JsonElement e, string name) => Text(e, name) is { Length: > 0 } v && v is not ("unknown" or "unspecified" or "reserved") ? v : null;

    private static string? Text(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static double Number(JsonElement e, string name) =>
        double.TryParse(Text(e, name), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : 0;
}
