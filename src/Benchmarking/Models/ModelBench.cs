using System.Diagnostics;
using BiVM.Benchmarking.Quick;
using BiVM.Contracts;
using BiVM.CustomOps.BinaryConv2d;
using BiVM.Estimators.Video;
using Onnx;

namespace BiVM.Benchmarking.Models;

/// <summary>
/// <c>bivm bench --models</c>: whole models per frame, the way <c>bivm matte</c> runs them
/// (<see cref="VideoMatter.ProcessInto"/> on buffers kept from frame to frame, recurrent state carried). At each size
/// and thread count every model gets its own session, and the models take turns in short blocks of frames, round
/// after round, so the load of a shared machine falls on all of them alike and the ratios to RVM come from one run.
/// </summary>
/// <remarks>
/// Not frame by frame: after a run returns, ONNX Runtime's intra-op workers keep spinning for about 40 ms (measured:
/// one worker's worth of process CPU time while the caller slept, 37 ms after a BiVM frame on 2 threads). Taking
/// turns frame by frame, every 2-thread model ran beside the spinning worker of the model before it, on one core in
/// effect: BiVM 72–75 ms per frame at 512×288, against 36–40 ms for the same session timed alone. So each block on
/// more than one thread starts after <see cref="Quick.Timing.Settle"/> of quiet, a wait no model's time includes.
/// </remarks>
public static class ModelBench
{
    /// <summary>How a report names the test card (<see cref="TestCard"/>) as its frames' source.</summary>
    public const string TestCardSource = "test card";

    /// <summary>Rounds of blocks: each model's timed frames are spread over this many turns (fewer when there are fewer frames).</summary>
    public const int Rounds = 3;

    /// <summary>Each model's timed frames per round: <paramref name="frames"/> split as evenly as <see cref="Rounds"/> rounds allow (fewer rounds for fewer frames).</summary>
    public static int[] Blocks(int frames) => Quick.Timing.Blocks(frames, Rounds);

    /// <summary>Times <paramref name="models"/> as <paramref name="options"/> say; <paramref name="progress"/> gets one line per step.</summary>
    public static ModelReport Run(IReadOnlyList<ModelCase> models, ModelBenchOptions options, TextWriter? progress = null)
    {
        if (models.Count == 0) throw new ArgumentException("no models to benchmark", nameof(models));
        var kernels = models.ToDictionary(m => m.Name, m => HasBinaryOps(m.Bytes) ? KernelSelector.DefaultName : "none");
        var results = new List<ModelResult>();
        foreach (var size in options.Sizes)
            foreach (int threads in options.Threads)
            {
                progress?.WriteLine($"models {size.Width}x{size.Height} at downsample {size.Downsample}, {threads} thread(s): {string.Join(", ", models.Select(m => m.Name))}");
                // The test card every frame, or the video's frames in turn: model i's next timed frame is
                // inputs[next[i] mod n], from 0 for every model once warmed up, so all time the same frames in the same order.
                var inputs = options.Video?.FramesAt(size.Width, size.Height) ?? [TestCard(size.Width, size.Height)];
                string source = options.Video is not { } video ? TestCardSource
                    : inputs.Count == 1 ? $"{video.Name}, its first frame" : $"{video.Name}, its first {inputs.Count} frames in turn";
                var next = new int[models.Count];
                // As bivm matte runs a model (VideoMatter.ProcessInto): the frame and the outputs in buffers the caller
                // keeps, so nothing of a frame's size is copied or allocated per frame.
                var alpha = new float[size.Width * size.Height];
                var foreground = new float[3 * size.Width * size.Height];
                var times = models.Select(_ => new List<double>()).ToArray();
                var cpuTimes = models.Select(_ => new List<double>()).ToArray();
                bool cpuClock = threads == 1 && Quick.Clock.HasThreadCpuTime;
                var allocated = models.Select(_ => new List<long>()).ToArray();
                var sessions = new List<MattingSession>();
                var matters = new List<VideoMatter?>();
                var pipelines = new List<PipelinedVideoMatter?>();
                var warmup = new int[models.Count];
                try
                {
                    foreach (var m in models)
                    {
                        if (m.Pipelined)
                        {
                            matters.Add(null);
                            pipelines.Add(new PipelinedVideoMatter(m.Bytes, m.Name, new VideoMatterOptions { IntraOpThreads = threads, DownsampleRatio = size.Downsample }));
                            continue;
                        }
                        sessions.Add(new MattingSession(m.Bytes, m.Name, threads));
                        matters.Add(new VideoMatter(sessions[^1], size.Downsample));
                        pipelines.Add(null);
                    }
                    // Each model warmed up until the JIT has settled (Quick.JitWarmup): BiVM's ops are C#, and three
                    // frames left them timed mostly in unoptimized code. A pipeline warms up in streams of a few frames.
                    for (int i = 0; i < models.Count; i++)
                    {
                        int warm = 0;
                        if (matters[i] is { } matter)
                            warmup[i] = JitWarmup.Run(() => matter.ProcessInto(inputs[warm++ % inputs.Count], size.Width, size.Height, alpha, foreground),
                                options.WarmupFrames, options.JitQuiet, JitWarmup.Limit);
                        else
                        {
                            var pipeline = pipelines[i]!;
                            int streamFrames = Math.Max(1, options.WarmupFrames);
                            warmup[i] = (PipelineLead + streamFrames) * JitWarmup.Run(() => StreamIntervals(pipeline, inputs, 0, size, streamFrames), 1, options.JitQuiet, JitWarmup.Limit);
                        }
                        progress?.WriteLine($"  {models[i].Name}: {warmup[i]} warm-up frames");
                    }
                    foreach (int block in Blocks(options.Frames))
                        for (int i = 0; i < matters.Count; i++)
                        {
                            if (threads > 1) Thread.Sleep(Quick.Timing.Settle);
                            if (pipelines[i] is { } pipeline)
                            {
                                var (intervals, bytes) = StreamIntervals(pipeline, inputs, next[i], size, block);
                                next[i] += block;
                                times[i].AddRange(intervals);
                                allocated[i].AddRange(intervals.Select(_ => bytes / block));
                                continue;
                            }
                            var matter = matters[i]!;
                            for (int f = 0; f < block; f++)
                            {
                                long before = GC.GetTotalAllocatedBytes(precise: true);
                                double cpuStart = cpuClock ? Quick.Clock.NowMilliseconds(threadCpu: true) : 0;
                                long start = Stopwatch.GetTimestamp();
                                matter.ProcessInto(inputs[next[i]++ % inputs.Count], size.Width, size.Height, alpha, foreground);
                                times[i].Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                                if (cpuClock) cpuTimes[i].Add(Quick.Clock.NowMilliseconds(threadCpu: true) - cpuStart);
                                allocated[i].Add(GC.GetTotalAllocatedBytes(precise: true) - before);
                            }
                        }
                }
                finally
                {
                    foreach (var matter in matters) matter?.Dispose();
                    foreach (var pipeline in pipelines) pipeline?.Dispose();
                    foreach (var session in sessions) session.Dispose();
                }
                var medians = times.Select(Median).ToList();
                int baseline = models.ToList().FindIndex(m => m.Name == ModelCase.Baseline);
                double? baselineMs = baseline >= 0 ? medians[baseline] : null;
                double? fastestRvmMs = FastestRvm(models.Select(m => m.Name).ToList(), medians);
                double? baselineCpu = baseline >= 0 && cpuClock ? Median(cpuTimes[baseline]) : null;
                for (int i = 0; i < models.Count; i++)
                {
                    double ms = medians[i];
                    // A pipeline's frames run on its workers, not on the calling thread: no CPU time of the caller for it.
                    double? cpu = cpuClock && cpuTimes[i].Count > 0 ? Median(cpuTimes[i]) : null;
                    var profile = options.Profile && !models[i].Pipelined ? ProfileModel(models[i], size, threads, options, inputs, progress) : null;
                    results.Add(new ModelResult(models[i].Name, size.Width, size.Height, size.Downsample, threads, ms, times[i].Min(), 1000 / ms,
                        baselineMs / ms, (long)Median(allocated[i].Select(a => (double)a).ToList()), models[i].FileBytes, kernels[models[i].Name],
                        options.Frames, profile, cpu, baselineCpu / cpu, fastestRvmMs / ms, warmup[i], source));
                }
            }
        return new ModelReport(Quick.QuickBench.Machine(), results);
    }

    /// <summary>
    /// The fastest way RVM ran at one size and thread count: the smaller median of <see cref="ModelCase.Baseline"/>
    /// (frame by frame on ONNX Runtime's threads) and <see cref="ModelCase.PipelinedBaseline"/> (a pipeline of stages),
    /// of those in <paramref name="names"/>; null when neither ran.
    /// </summary>
    public static double? FastestRvm(IReadOnlyList<string> names, IReadOnlyList<double> medianMs) =>
        names.Select((name, i) => name is ModelCase.Baseline or ModelCase.PipelinedBaseline ? medianMs[i] : (double?)null).Min();

    /// <summary>
    /// Frames a pipelined stream runs before the ones timed: its first frame goes through the whole model on one
    /// thread (it sizes the buffers), the next ones fill the pipeline.
    /// </summary>
    private const int PipelineLead = 3;

    /// <summary>
    /// One stream of <see cref="PipelineLead"/> + <paramref name="frames"/> frames through <paramref name="pipeline"/>, the
    /// timed ones <paramref name="inputs"/>[<paramref name="first"/> …] in turn (mod their count; the lead frames the ones before);
    /// a pipeline's time per frame is its interval between outputs, not one frame's latency: the wall time from the
    /// write of the last lead frame to the write of the last frame, over <paramref name="frames"/> (single intervals
    /// are no measure: frames of different stages finish in bursts), given once per timed frame; and the bytes
    /// allocated over that time (the stream's buffers are allocated once, before it).
    /// </summary>
    private static (List<double> Intervals, long Bytes) StreamIntervals(PipelinedVideoMatter pipeline, IReadOnlyList<float[]> inputs, int first, BenchSize size, int frames)
    {
        var writes = new List<(long Time, long Bytes)>();
        int read = 0, n = inputs.Count;
        pipeline.Run(size.Width, size.Height, buffer =>
        {
            if (read == PipelineLead + frames) return false;
            inputs[((first - PipelineLead + read) % n + n) % n].CopyTo(buffer);
            read++;
            return true;
        }, (_, _) => writes.Add((Stopwatch.GetTimestamp(), GC.GetTotalAllocatedBytes(precise: true))));
        double perFrame = Stopwatch.GetElapsedTime(writes[PipelineLead - 1].Time, writes[^1].Time).TotalMilliseconds / frames;
        return (Enumerable.Repeat(perFrame, frames).ToList(), writes[^1].Bytes - writes[PipelineLead - 1].Bytes);
    }

    /// <summary>
    /// A smooth planar RGB test card in 0..1. The cost of these networks does not depend on the picture, except the
    /// SHB mask's density, which the τ* search keeps within its candidate range: on this card about 5 % of decode0's
    /// cells are active, on vtest.avi about a quarter, and a 512×288 BiVM frame takes about 5 % longer there
    /// (<see cref="ModelBenchOptions.Video"/> times real frames).
    /// </summary>
    public static float[] TestCard(int width, int height)
    {
        var frame = new float[3 * width * height];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                    frame[(c * height + y) * width + x] = 0.5f + 0.4f * MathF.Sin(0.05f * x + 0.07f * y + c);
        return frame;
    }

    /// <summary>
    /// The whole frames of a raw rgb24 file of <paramref name="width"/>×<paramref name="height"/> (as <c>ffmpeg -f rawvideo
    /// -pix_fmt rgb24</c> writes them), each as planar RGB in 0..1: real frames for the probes, whose SHB mask follows the
    /// picture (the test card's is not a real frame's).
    /// </summary>
    /// <exception cref="ArgumentException">The file holds no whole frame of that size.</exception>
    public static List<float[]> Rgb24Frames(string path, int width, int height)
    {
        byte[] raw = File.ReadAllBytes(path);
        long size = 3L * width * height;
        var frames = new List<float[]>();
        for (long at = 0; at + size <= raw.Length; at += size)
        {
            var planar = new float[size];
            for (int p = 0; p < width * height; p++)
                for (int c = 0; c < 3; c++) planar[(long)c * width * height + p] = raw[at + 3 * p + c] / 255f;
            frames.Add(planar);
        }
        if (frames.Count == 0) throw new ArgumentException($"{path} holds no whole {width}x{height} rgb24 frame");
        return frames;
    }

    /// <summary>
    /// A graph output for a tensor of an exported bivm by its name (the probes list inner tensors as outputs): packed bits
    /// end in "packed", "packed_second" or a ConvGru's <see cref="BiVM.Graph.GruHandOffFusion.IhSuffix"/> and
    /// <see cref="BiVM.Graph.GruHandOffFusion.HhSuffix"/> (uint64), the SHB mask in "uint8", a glue's PackedUnread in
    /// <see cref="BiVM.Graph.HiddenHandOffFusion.UnreadSuffix"/> (bool), anything else is float32; or of the element type
    /// <paramref name="type"/> where that is given.
    /// </summary>
    public static ValueInfoProto NamedOutput(string name, TensorProto.Types.DataType? type = null) => new()
    {
        Name = name,
        Type = new TypeProto
        {
            TensorType = new TypeProto.Types.Tensor
            {
                ElemType = (int)(type ?? (name.EndsWith("packed", StringComparison.Ordinal) || name.EndsWith("packed_second", StringComparison.Ordinal)
                    || name.EndsWith(BiVM.Graph.GruHandOffFusion.IhSuffix, StringComparison.Ordinal) || name.EndsWith(BiVM.Graph.GruHandOffFusion.HhSuffix, StringComparison.Ordinal)
                    ? TensorProto.Types.DataType.Uint64 : name.EndsWith("uint8", StringComparison.Ordinal) ? TensorProto.Types.DataType.Uint8
                    : name.EndsWith(BiVM.Graph.HiddenHandOffFusion.UnreadSuffix, StringComparison.Ordinal) ? TensorProto.Types.DataType.Bool : TensorProto.Types.DataType.Float)),
            },
        },
    };

    /// <summary>
    /// Runs a matting model in <paramref name="session"/> over <paramref name="frames"/> (planar RGB in 0..1, as
    /// <see cref="Rgb24Frames"/> gives them) as the contract says: the state outputs fed back as the next frame's state
    /// inputs from a [1, 1, 1, 1] zero state, downsample 1. After each frame <paramref name="onFrame"/> gets its index, the
    /// graph inputs it was given (by name, valid during the call only) and the values of <paramref name="names"/>
    /// (tensors the session's model lists as outputs, the caller's to keep): the probes that look at what a node gets
    /// inside the whole model (scripts/probes/node-loop.cs, warm-nodes.cs, delta-bits.cs).
    /// </summary>
    public static void RunFrames(Microsoft.ML.OnnxRuntime.InferenceSession session, IReadOnlyList<float[]> frames, int width, int height, IReadOnlyList<string> names,
        Action<int, IReadOnlyDictionary<string, Microsoft.ML.OnnxRuntime.OrtValue>, IReadOnlyList<Microsoft.ML.OnnxRuntime.OrtValue>> onFrame)
    {
        using var ratio = Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(new[] { 1f }, new long[] { 1 });
        var state = MattingContract.StateInputs.Select(_ => Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(new float[1], new long[] { 1, 1, 1, 1 })).ToArray();
        var inputNames = new[] { MattingContract.Source, MattingContract.DownsampleRatio }.Concat(MattingContract.StateInputs).ToArray();
        var outputs = MattingContract.StateOutputs.Concat(names).ToArray();
        using var options = new Microsoft.ML.OnnxRuntime.RunOptions();
        for (int k = 0; k < frames.Count; k++)
        {
            using var source = Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(frames[k], new long[] { 1, 3, height, width });
            var inputs = new[] { source, ratio }.Concat(state).ToArray();
            var values = session.Run(options, inputNames, inputs, outputs);
            onFrame(k, inputNames.Zip(inputs).ToDictionary(p => p.First, p => p.Second), values.Skip(state.Length).ToList());
            foreach (var old in state) old.Dispose();
            state = values.Take(state.Length).ToArray();
        }
        foreach (var last in state) last.Dispose();
    }

    /// <summary>Per op type, from ONNX Runtime's profile of a separate session over warm-up plus timed frames.</summary>
    private static IReadOnlyList<OpTime> ProfileModel(ModelCase model, BenchSize size, int threads, ModelBenchOptions options, IReadOnlyList<float[]> inputs, TextWriter? progress)
    {
        progress?.WriteLine($"profiling {model.Name} at {size.Width}x{size.Height}, {threads} thread(s)");
        string folder = Directory.CreateTempSubdirectory("bivm-profile-").FullName;
        try
        {
            int frames = Math.Max(1, options.WarmupFrames) + options.Frames;
            string file;
            using (var session = new MattingSession(model.Bytes, model.Name, threads, profilePrefix: Path.Combine(folder, "ort")))
            using (var matter = new VideoMatter(session, size.Downsample))
            {
                // As the timed frames run (ProcessInto on kept buffers): fresh output arrays each frame would add
                // their page faults to the op that writes them first (the output tail: 3.6 of 50 ms at 512×288).
                float[] alpha = new float[size.Width * size.Height], foreground = new float[3 * size.Width * size.Height];
                for (int f = 0; f < frames; f++) matter.ProcessInto(inputs[f % inputs.Count], size.Width, size.Height, alpha, foreground);
                file = session.EndProfiling();
            }
            return OrtProfile.ByOpType(File.ReadAllText(file), frames);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static bool HasBinaryOps(byte[] model) =>
        ModelProto.Parser.ParseFrom(model).Graph.Node.Any(n => n.Domain == BinaryConvSchema.Domain);

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
