using System.Diagnostics;
using System.Globalization;
using BiVM.Contracts;
using BiVM.Estimators.Video;

namespace BiVM.Cli.Matting;

/// <summary>One round of <see cref="MatteBenchmark"/>: the model alone and the whole file, measured back to back.</summary>
/// <param name="ModelOnlyByThreads">The model alone at each thread count tried (ONNX Runtime intra-op threads → fps).</param>
/// <param name="PipelineThreads">ONNX Runtime's threads in the whole-file run.</param>
internal sealed record MatteBenchRound(int Frames, IReadOnlyDictionary<int, double> ModelOnlyByThreads, double WholeFileFps, int PipelineThreads, StageSeconds Stages)
{
    /// <summary>The model alone at its best thread count: the honest measure the whole file is compared with.</summary>
    public double ModelOnlyFps => ModelOnlyByThreads.Values.Max();

    /// <summary>Whole-file fps over model-only fps; the target is at least 0.8.</summary>
    public double Ratio => WholeFileFps / ModelOnlyFps;
}

/// <summary>
/// <c>bivm bench --matte FILE</c>: the whole-file speed of <c>bivm matte</c> (decode, model, composite, encode to
/// .mp4 with the audio) against the model alone on the same frames (decoded and converted beforehand, fed to
/// <see cref="VideoMatter.ProcessInto"/> in a loop). The two are measured alternately, round after round, so a
/// shared, noisy host slows both alike and their ratio stays meaningful. The model alone runs at one thread, at one
/// thread per physical core (ONNX Runtime's default) and at the whole-file run's count (<see cref="CoreSchedule"/>),
/// and the fastest counts: the pipeline's choice of threads must not handicap the measure it is compared with (on a
/// loaded host one thread was the fastest).
/// </summary>
internal static class MatteBenchmark
{
    public static IReadOnlyList<MatteBenchRound> Run(string input, float? downsample, int threads, int frames, int rounds, string? model, TextWriter log, CancellationToken cancel,
        H264Settings? h264 = null, bool pipeline = false)
    {
        var inputs = Decode(input, frames);
        try
        {
            int w = inputs[0].Width, h = inputs[0].Height;
            float ratio = downsample ?? MattingContract.DefaultDownsampleRatio(w, h);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"bench --matte {input}: {inputs.Count} frames of {w}x{h}, network at {Math.Round(w * ratio)}x{Math.Round(h * ratio)} (downsample {ratio:0.###}), {Environment.ProcessorCount} CPUs ({CoreSchedule.PhysicalCores()} physical cores), pixel kernels {(PixelKernels.Vectorized ? "avx2" : "reference")}"));
            int pipelineThreads = CoreSchedule.ModelThreads(threads);
            int[] candidates = [.. new[] { 1, CoreSchedule.PhysicalCores(), pipelineThreads }.Distinct().Order()];
            var results = new List<MatteBenchRound>();
            using var temp = new TempOutput();
            for (int round = 1; round <= rounds; round++)
            {
                var modelFps = candidates.ToDictionary(n => n, n => pipeline ? PipelinedOnly(inputs, downsample, n, model, cancel) : ModelOnly(inputs, downsample, n, model, cancel));
                var summary = MatteJob.Run(new MatteRequest(input, temp.File, Model: model, Downsample: downsample, Threads: pipelineThreads, MaxFrames: inputs.Count, H264: h264, Pipeline: pipeline), cancel: cancel);
                var result = new MatteBenchRound(summary.Frames, modelFps, summary.Fps, summary.ModelThreads, summary.Stages);
                results.Add(result);
                string alone = string.Join(", ", modelFps.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Value:F2} fps at {p.Key} thread(s)")));
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"round {round}: model only {alone}; whole file {result.WholeFileFps:F2} fps at {result.PipelineThreads} thread(s); ratio {result.Ratio:F2} ({summary.Stages.Describe(summary.Frames)})"));
            }
            return results;
        }
        finally
        {
            foreach (var frame in inputs) frame.Dispose();
        }
    }

    /// <summary>Text for the results: every round, and the median ratio.</summary>
    public static string Summary(IReadOnlyList<MatteBenchRound> rounds)
    {
        var ratios = rounds.Select(r => r.Ratio).Order().ToArray();
        double median = ratios.Length % 2 == 1 ? ratios[ratios.Length / 2] : (ratios[ratios.Length / 2 - 1] + ratios[ratios.Length / 2]) / 2;
        return string.Create(CultureInfo.InvariantCulture,
            $"whole file / model only: median {median:F2} over {rounds.Count} round(s) (model only {rounds.Select(r => r.ModelOnlyFps).Min():F2}..{rounds.Select(r => r.ModelOnlyFps).Max():F2} fps, whole file {rounds.Select(r => r.WholeFileFps).Min():F2}..{rounds.Select(r => r.WholeFileFps).Max():F2} fps)");
    }

    private static List<PlanarFrame> Decode(string input, int frames)
    {
        using var converter = new FrameConverter();
        return FrameSource.ReadFirst(input, frames, bgr =>
        {
            var planar = new PlanarFrame(3);
            converter.ToPlanar(bgr, planar);
            return planar;
        });
    }

    private static double ModelOnly(List<PlanarFrame> inputs, float? downsample, int threads, string? model, CancellationToken cancel)
    {
        using var matter = new VideoMatter(new VideoMatterOptions { ModelPath = model, DownsampleRatio = downsample, IntraOpThreads = threads });
        int w = inputs[0].Width, h = inputs[0].Height;
        var alpha = GC.AllocateUninitializedArray<float>(w * h, pinned: true);
        var foreground = GC.AllocateUninitializedArray<float>(3 * w * h, pinned: true);
        // Session creation and the first run's allocations are not part of either measure.
        matter.ProcessInto(inputs[0].Data, w, h, alpha, foreground);
        matter.Reset();
        var clock = Stopwatch.StartNew();
        foreach (var frame in inputs)
        {
            cancel.ThrowIfCancellationRequested();
            matter.ProcessInto(frame.Data, w, h, alpha, foreground);
        }
        return inputs.Count / clock.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// <see cref="ModelOnly"/> for <c>--pipeline</c>: the frames as one stream through a <see cref="PipelinedVideoMatter"/>
    /// with <paramref name="threads"/> workers (after a first stream that makes its sessions and buffers).
    /// </summary>
    private static double PipelinedOnly(List<PlanarFrame> inputs, float? downsample, int threads, string? model, CancellationToken cancel)
    {
        using var pipeline = new PipelinedVideoMatter(new VideoMatterOptions { ModelPath = model, DownsampleRatio = downsample, IntraOpThreads = threads, CheckInputRange = false });
        int w = inputs[0].Width, h = inputs[0].Height;
        long Stream(int count)
        {
            int next = 0;
            return pipeline.Run(w, h, buffer =>
            {
                if (next == count) return false;
                inputs[next++].Data.AsSpan().CopyTo(buffer.Span);
                return true;
            }, (_, _) => { }, cancel);
        }
        Stream(Math.Min(2, inputs.Count));
        var clock = Stopwatch.StartNew();
        long frames = Stream(inputs.Count);
        return frames / clock.Elapsed.TotalSeconds;
    }

    /// <summary>A temporary .mp4 for the whole-file runs, removed at the end.</summary>
    private sealed class TempOutput : IDisposable
    {
        private readonly string _dir = Directory.CreateTempSubdirectory("bivm-bench-").FullName;
        public string File => Path.Combine(_dir, "composite.mp4");
        public void Dispose() => Directory.Delete(_dir, recursive: true);
    }
}
