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
    bool NoAudio = false,
    RawFormat? Raw = null,
    Rational? Rate = null,
    bool VerifyChecksum = true,
    H264Settings? H264 = null,
    bool? Pipeline = null);

/// <summary>What a run did: frames, wall seconds, the stages' busy seconds, the outputs, and ONNX Runtime's thread count.</summary>
internal sealed record MatteSummary(int Frames, double Seconds, string Model, IReadOnlyList<string> Outputs, StageSeconds Stages, IReadOnlyList<string> Notes, int ModelThreads,
    bool Pipelined = false)
{
    public double Fps => Frames / Math.Max(Seconds, 1e-9);
}

/// <summary>
/// Reads frames, mattes them with a <see cref="MatteModel"/> (a <see cref="VideoMatter"/>, or with <c>--pipeline</c> a
/// <see cref="PipelinedVideoMatter"/>), and writes the composite and the optional alpha and
/// foreground streams, through the <see cref="MattePipeline"/>. Inputs, model and outputs are all checked before the
/// first frame is matted; every output is committed only after the last frame succeeded.
/// </summary>
internal static class MatteJob
{
    public static string DefaultOut(string input, SourceKind kind)
    {
        string stem = input == "-" ? "stdin" : System.IO.Path.GetFileNameWithoutExtension(input.TrimEnd('/').Replace(':', '_'));
        return kind switch
        {
            SourceKind.Video or SourceKind.Stream => stem + "_composite.mp4",
            SourceKind.Image => stem + "_composite.png",
            _ => stem + "_composite" + System.IO.Path.DirectorySeparatorChar,
        };
    }

    /// <param name="progress">Called after each frame with frames done, frames expected (when known) and seconds so far.</param>
    public static MatteSummary Run(MatteRequest request, Action<int, int?, double>? progress = null, CancellationToken cancel = default)
    {
        int threads = CoreSchedule.ModelThreads(request.Threads), sideThreads = CoreSchedule.SideThreads(threads);
        using var source = FrameSource.Open(request.Input, request.Raw, request.Rate, sideThreads);
        using var background = Matting.Background.Parse(request.Background);
        // The pipeline where asked for (--pipeline, --no-pipeline), else where it measured faster (CoreSchedule.AutoPipeline)
        // and the model can be cut into its stages.
        using var matter = request.Pipeline is { } asked ? MatteModel.Create(MatterOptions(request, threads), asked)
            : CoreSchedule.AutoPipeline(threads, source.Kind, source.FrameSize) ? MatteModel.CreatePipelinedIfPossible(MatterOptions(request, threads))
            : MatteModel.Create(MatterOptions(request, threads), pipeline: false);

        bool single = source.Kind == SourceKind.Image;
        int? total = request.MaxFrames is { } cap ? Math.Min(cap, source.DeclaredFrames ?? cap) : source.DeclaredFrames;
        var probe = source.Probe;
        var timing = new OutputTiming(source.Rate,
            AudioFrom: request.NoAudio || probe is null ? null : source.Path,
            Audio: probe?.Audio,
            VideoOffset: probe?.VideoOffset ?? 0,
            MaxSeconds: request.MaxFrames is { } n ? source.Rate.Seconds(n) : null,
            EncoderThreads: sideThreads,
            H264: request.H264 ?? H264Settings.Default,
            InputColour: probe?.Colour);
        string rawFormat = request.Raw?.PixelFormat ?? RawFormat.Bgr24;
        var sinks = new List<FrameSink>();
        try
        {
            var composite = Add(sinks, FrameSink.Create(request.Out ?? DefaultOut(request.Input, source.Kind), "--out", timing, SinkContent.Color, single, rawFormat));
            var alpha = request.Alpha is null ? null : Add(sinks, FrameSink.Create(request.Alpha, "--alpha", timing, SinkContent.Alpha, single));
            var foreground = request.Foreground is null ? null : Add(sinks, FrameSink.Create(request.Foreground, "--foreground", timing, SinkContent.ColorWithAlpha, single));
            CheckDistinct(sinks, request.Input);
            if (request.H264 is { Explicit: true } && !sinks.OfType<FfmpegVideoSink>().Any(s => s.IsH264))
                throw new UserInputException($"--preset and --crf set the H.264 encoder of .mp4 outputs, and this run writes none ({string.Join(", ", sinks.Select(s => s.Path))})");
            var notes = sinks.OfType<FfmpegVideoSink>().Select(s => s.AudioNote).OfType<string>().ToList();

            using var converter = new FrameConverter();
            using Mat compositeBgr = new(), alphaGrey = new(), foregroundBgr = new();
            long compositeTicks = 0, encodeTicks = 0;
            var clock = Stopwatch.StartNew();
            var (frames, decodeSeconds, modelSeconds) = MattePipeline.Run(source, matter, request.MaxFrames, slot =>
            {
                long t0 = Stopwatch.GetTimestamp();
                int w = slot.Input.Width, h = slot.Input.Height;
                string name = source.FrameName(slot.Index);
                converter.Composite(slot.Alpha, slot.Foreground, background, slot.Index, compositeBgr);
                if (alpha is not null) FrameConverter.Alpha(slot.Alpha, alphaGrey);
                if (foreground is not null) converter.Foreground(slot.Foreground, foreground.Content == SinkContent.ColorWithAlpha ? slot.Alpha : null, foregroundBgr);
                long t1 = Stopwatch.GetTimestamp();
                composite.Write(compositeBgr, name);
                alpha?.Write(alphaGrey, name);
                foreground?.Write(foregroundBgr, name);
                compositeTicks += t1 - t0;
                encodeTicks += Stopwatch.GetTimestamp() - t1;
            }, done => progress?.Invoke(done, total, clock.Elapsed.TotalSeconds), cancel);

            long c0 = Stopwatch.GetTimestamp();
            foreach (var sink in sinks) sink.Commit();   // waits for the encoders to finish
            encodeTicks += Stopwatch.GetTimestamp() - c0;
            var stages = new StageSeconds(decodeSeconds, modelSeconds, Seconds(compositeTicks), Seconds(encodeTicks));
            return new MatteSummary(frames, clock.Elapsed.TotalSeconds, matter.ModelName + IntegrityNote(matter.Checksum), sinks.Select(s => s.Path).ToList(), stages, notes, threads,
                matter is MatteModel.Pipelined);
        }
        finally
        {
            foreach (var sink in sinks) sink.Dispose();
        }
    }

    /// <summary>
    /// How the run's model is loaded and run. The decoder, the writer and ffmpeg's encoder are busy beside it, so ONNX
    /// Runtime's threads sleep between parallel sections instead of spinning on the CPUs those stages need: on the
    /// 1080p clip that took a quarter off the run's CPU time and its wall time (README, "Cores"). The frames are made
    /// from 8-bit pixels as v / 255 (<see cref="FrameConverter"/>), in 0..1 by construction, so the model's pass that
    /// checks their range (3 ms per 1080p frame on the model's thread) is skipped.
    /// </summary>
    internal static VideoMatterOptions MatterOptions(MatteRequest request, int threads) => new()
    {
        ModelPath = request.Model,
        DownsampleRatio = request.Downsample,
        IntraOpThreads = threads,
        VerifyChecksum = request.VerifyChecksum,
        SpinWhileIdle = false,
        CheckInputRange = false,
    };

    /// <summary>Said once, after the model's name in the summary, when the model could not be verified.</summary>
    private static string IntegrityNote(ChecksumStatus status) => status switch
    {
        ChecksumStatus.Absent => " (the file carries no checksum, so it was not verified)",
        ChecksumStatus.Mismatch => " (its checksum does not match: loaded because of --no-verify)",
        _ => "",
    };

    private static double Seconds(long ticks) => (double)ticks / Stopwatch.Frequency;

    private static FrameSink Add(List<FrameSink> sinks, FrameSink sink)
    {
        sinks.Add(sink);
        return sink;
    }

    private static void CheckDistinct(List<FrameSink> sinks, string input)
    {
        var dup = sinks.Where(s => !s.IsStandardOutput).GroupBy(s => System.IO.Path.GetFullPath(s.Path)).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new UserInputException($"two outputs name the same path: {dup.Key}");
        if (input == "-") return;
        string inputPath = System.IO.Path.GetFullPath(input).TrimEnd('/');
        var clash = sinks.FirstOrDefault(s => !s.IsStandardOutput && System.IO.Path.GetFullPath(s.Path).TrimEnd('/') == inputPath);
        if (clash is not null) throw new UserInputException($"{clash.Path}: an output would overwrite the input");
    }
}
