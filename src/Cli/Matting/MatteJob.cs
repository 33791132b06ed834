using System.Diagnostics;
using BiVM.Contracts;
using BiVM.Estimators.Video;
using OpenCvSharp;

namespace BiVM.Cli.Matting;

/// <summary>What <c>bivm matte</c> was asked to do.</summary>
internal sealed record MatteRequest(
    string Input,
    string? Out = null,
    string Background = "green",
    string? Alpha = null,
    string? Foreground = null,
    string? Model = null,
    float? Downsample = null,
    int Threads = 0,
    int? MaxFrames = null,
    bool VerifyChecksum = true);

internal sealed record MatteSummary(int Frames, double Seconds, string Model, IReadOnlyList<string> Outputs)
{
    public double Fps => Frames / Math.Max(Seconds, 1e-9);
}

/// <summary>
/// Reads frames, mattes them with a <see cref="VideoMatter"/>, and writes the composite and the
/// optional alpha and foreground streams. Inputs, model and outputs are all checked before the
/// first frame is matted; every output is committed only after the last frame succeeded.
/// </summary>
internal static class MatteJob
{
    public static string DefaultOut(string input, SourceKind kind)
    {
        string stem = System.IO.Path.GetFileNameWithoutExtension(input.TrimEnd('/'));
        return kind switch
        {
            SourceKind.Video => stem + "_composite.mp4",
            SourceKind.Image => stem + "_composite.png",
            _ => stem + "_composite" + System.IO.Path.DirectorySeparatorChar,
        };
    }

    public static MatteSummary Run(MatteRequest request, Action<int, int?, double>? progress = null, CancellationToken cancel = default)
    {
        using var source = FrameSource.Open(request.Input);
        using var background = Matting.Background.Parse(request.Background);
        using var matter = new VideoMatter(new VideoMatterOptions
        {
            ModelPath = request.Model,
            DownsampleRatio = request.Downsample,
            IntraOpThreads = request.Threads,
            VerifyChecksum = request.VerifyChecksum,
        });

        bool single = source.Kind == SourceKind.Image;
        var sinks = new List<FrameSink>();
        try
        {
            var composite = Add(sinks, FrameSink.Create(request.Out ?? DefaultOut(request.Input, source.Kind), "--out", source.Fps, isColor: true, lossless: false, single));
            var alpha = request.Alpha is null ? null : Add(sinks, FrameSink.Create(request.Alpha, "--alpha", source.Fps, isColor: false, lossless: true, single));
            var foreground = request.Foreground is null ? null : Add(sinks, FrameSink.Create(request.Foreground, "--foreground", source.Fps, isColor: true, lossless: false, single));
            CheckDistinct(sinks, request.Input);

            var clock = Stopwatch.StartNew();
            int index = 0;
            var frames = request.MaxFrames is { } max ? source.Frames().Take(max) : source.Frames();
            int? total = request.MaxFrames is { } cap ? Math.Min(cap, source.DeclaredFrames ?? cap) : source.DeclaredFrames;
            foreach (var frame in frames)
            {
                using (frame)
                {
                    cancel.ThrowIfCancellationRequested();
                    string name = source.FrameName(index);
                    using var rgb = new Mat();
                    Cv2.CvtColor(frame, rgb, ColorConversionCodes.BGR2RGB);
                    var matte = matter.ProcessRgb24(MatBytes.ToArray(rgb), frame.Width, frame.Height, cancel: cancel);

                    WriteRgb(composite, matte.CompositeRgb24(background.Rgb24(index, frame.Width, frame.Height)), matte, name);
                    if (alpha is not null)
                    {
                        using var grey = MatBytes.FromArray(matte.AlphaBytes(), matte.Width, matte.Height, 1);
                        alpha.Write(grey, name);
                    }
                    if (foreground is not null) WriteRgb(foreground, matte.ForegroundRgb24(), matte, name);
                    index++;
                    progress?.Invoke(index, total, clock.Elapsed.TotalSeconds);
                }
            }
            foreach (var sink in sinks) sink.Commit();
            return new MatteSummary(index, clock.Elapsed.TotalSeconds, matter.ModelName + IntegrityNote(matter.Checksum), sinks.Select(s => s.Path).ToList());
        }
        finally
        {
            foreach (var sink in sinks) sink.Dispose();
        }
    }

    /// <summary>Said once, after the model's name in the summary, when the model could not be verified.</summary>
    private static string IntegrityNote(ChecksumStatus status) => status switch
    {
        ChecksumStatus.Absent => " (the file carries no checksum, so it was not verified)",
        ChecksumStatus.Mismatch => " (its checksum does not match: loaded because of --no-verify)",
        _ => "",
    };

    private static FrameSink Add(List<FrameSink> sinks, FrameSink sink)
    {
        sinks.Add(sink);
        return sink;
    }

    private static void CheckDistinct(List<FrameSink> sinks, string input)
    {
        var dup = sinks.GroupBy(s => System.IO.Path.GetFullPath(s.Path)).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new UserInputException($"two outputs name the same path: {dup.Key}");
        string inputPath = System.IO.Path.GetFullPath(input).TrimEnd('/');
        var clash = sinks.FirstOrDefault(s => System.IO.Path.GetFullPath(s.Path).TrimEnd('/') == inputPath);
        if (clash is not null) throw new UserInputException($"{clash.Path}: an output would overwrite the input");
    }

    private static void WriteRgb(FrameSink sink, byte[] rgb, MatteFrame matte, string name)
    {
        using var mat = MatBytes.FromArray(rgb, matte.Width, matte.Height, 3);
        using var bgr = new Mat();
        Cv2.CvtColor(mat, bgr, ColorConversionCodes.RGB2BGR);
        sink.Write(bgr, name);
    }
}
