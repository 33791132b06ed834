using System.Globalization;

namespace BiVM.Cli.Matting;

/// <summary>
/// How a <c>bivm matte</c> run shares the host's CPUs between ONNX Runtime and the stages beside it (decoding,
/// compositing, the ffmpeg encoder). ONNX Runtime gets its own default, one intra-op thread per physical core; the
/// decoder and the encoder get one thread each instead of one per CPU (x264: 1.5 per CPU), so they add two busy
/// threads beside the model's, not a dozen. Measured on a quiet 2-vCPU VM (`scripts/bench-matte.sh 100 2` with the
/// model on 1 and on 2 threads, 2026-12-01): on vtest.avi the whole file ran at 0.85 of the model alone with 2 model
/// threads against 0.67 with 1; on the 1080p clip at downsample 0.25 both gave the same whole-file rate (7–8 fps),
/// because there the decoder and x264 take about as much CPU per frame as the model. Leaving a CPU to the other
/// stages won only on a host loaded by other work (load average 10–19), where the model's second thread is
/// pre-empted; <c>--threads 1</c> does that.
/// </summary>
internal static class CoreSchedule
{
    /// <summary>
    /// ONNX Runtime intra-op threads for a matting pipeline: <paramref name="requested"/> when the user chose (&gt; 0);
    /// otherwise one per physical core (ONNX Runtime's default), at most <paramref name="logicalCpus"/>, at least 1.
    /// </summary>
    public static int ModelThreads(int requested, int logicalCpus, int physicalCores)
    {
        if (requested > 0) return requested;
        return Math.Max(1, Math.Min(physicalCores, logicalCpus));
    }

    /// <summary>
    /// Threads for the video decoder (OpenCV's FFmpeg backend) and for the encoder (ffmpeg's <c>-threads</c>): the
    /// logical CPUs ONNX Runtime does not use, at least 1. Left to themselves both start one thread per CPU (x264
    /// 1.5 per CPU), which on a small host puts several busy threads beside the model's on the same cores; one
    /// thread each decodes or encodes a 1080p frame in 13–45 ms of CPU (measured: x264 veryfast costs the same CPU
    /// time with 1 thread as with its default), well inside the model's time per frame.
    /// </summary>
    public static int SideThreads(int modelThreads, int logicalCpus) => Math.Max(1, logicalCpus - modelThreads);

    /// <summary><see cref="SideThreads(int, int)"/> on this host.</summary>
    public static int SideThreads(int modelThreads) => SideThreads(modelThreads, Environment.ProcessorCount);

    /// <summary><see cref="ModelThreads(int, int, int)"/> on this host.</summary>
    public static int ModelThreads(int requested) => ModelThreads(requested, Environment.ProcessorCount, PhysicalCores());

    /// <summary>
    /// Physical cores this process may use: the distinct (package, core) pairs of the online CPUs that Linux lists in
    /// /sys, at most <see cref="Environment.ProcessorCount"/> (which counts the CPUs of the process's affinity and
    /// cgroup quota). Where /sys says nothing (another OS, a container that hides it), every logical CPU is a core.
    /// </summary>
    public static int PhysicalCores()
    {
        int logical = Environment.ProcessorCount;
        try
        {
            var cores = new HashSet<(string, string)>();
            foreach (var cpu in Directory.EnumerateDirectories("/sys/devices/system/cpu", "cpu*"))
            {
                if (!int.TryParse(Path.GetFileName(cpu).AsSpan(3), NumberStyles.None, CultureInfo.InvariantCulture, out _)) continue;
                string online = Path.Combine(cpu, "online");   // cpu0 often has no such file: it cannot go offline
                if (File.Exists(online) && File.ReadAllText(online).Trim() == "0") continue;
                string package = Path.Combine(cpu, "topology", "physical_package_id"), core = Path.Combine(cpu, "topology", "core_id");
                if (!File.Exists(package) || !File.Exists(core)) continue;
                cores.Add((File.ReadAllText(package).Trim(), File.ReadAllText(core).Trim()));
            }
            return cores.Count == 0 ? logical : Math.Min(cores.Count, logical);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return logical;
        }
    }

    /// <summary>Largest frame (pixels) of a video file that <c>bivm matte</c> runs as a pipeline of stages by itself: 1920×1080.</summary>
    public const long AutoPipelinePixels = 1920L * 1080;

    /// <summary>
    /// Whether <c>bivm matte</c> runs the network as a pipeline of its stages (<c>PipelinedVideoMatter</c>) when neither
    /// <c>--pipeline</c> nor <c>--no-pipeline</c> is given: for a video file of at most <see cref="AutoPipelinePixels"/>
    /// per frame on two model threads. Only two: every measurement was on 2-vCPU hosts, and with more threads the
    /// pipeline's four stages (its recurrent decoder one frame after another) are not known to beat the layers split
    /// over all of them. Whether the pipeline pays depends on what decoding and encoding leave
    /// of the CPUs (docs/benchmark-history.md, "Frames in a pipeline"). Measured on 2-vCPU hosts, alternating, whole files (vtest.avi
    /// at 768×576, or scaled with x264, 200 frames): on 2026-12-03 in the Zen 4 host's eighth session faster at
    /// 1280×720 (27.2 and 26.3 fps against 23.6 and 24.1), at 1600×900 (21.2–22.0 against 19.8–20.3, four runs each)
    /// and at 1920×1080 as fast or faster (16.3–17.5 against 15.8–16.4, six runs each); the build before that
    /// session's per-worker sessions pipelined those two sizes alike (15.9 and 17.1 fps at 1080p, 21.9 and 22.2 at
    /// 1600×900, against 17.1 and 17.5, 21.5 and 21.8 after them: there decoding and encoding share the CPUs);
    /// earlier sessions on the same host had measured it faster up to 1280×720 only (vtest.avi at 768×576 on Zen 4
    /// and Zen 5; 1280×720 even or faster) and slower at 1600×900 and 1080p, on a slower hour of the host and an
    /// older model build. On the Zen 5 host of the same day (cache sizes hidden, three rounds a size, the two modes
    /// alternated) the pipeline was faster up to 768×576 (29.2–29.7 fps against 26.0–27.7 on vtest.avi, 47.2 and 50.5
    /// against 42.8 and 43.6 at 512×288), even at 1600×900 (21.9–22.3 against 21.8–22.1) and slower at 1280×720 (26.2
    /// and 26.3 against 27.7 and 28.2) and 1920×1080 (15.9–17.3 against 17.1–17.6): where decoding and encoding keep
    /// both CPUs busy, the mode that spends less CPU a frame on the model wins, and on that host ONNX Runtime's two
    /// threads split a frame at little cost (15.1 ms against 16.2 on one), while two pipeline stages at once slow each
    /// other by 4–11 %. The bound stays at 1080p, where the Zen 4 host gains 4–12 % and the Zen 5 one loses 4–6 %.
    /// Above 1080p nothing was measured: frame by frame there.
    /// Streams (a camera, raw frames on standard input) stay frame by frame: the pipeline holds a frame or two more
    /// in flight, which a live stream would see as latency; one image has nothing to pipeline.
    /// </summary>
    public static bool AutoPipeline(int modelThreads, SourceKind kind, (int Width, int Height)? frameSize) =>
        modelThreads == 2 && kind == SourceKind.Video && frameSize is var (w, h) && w > 0 && h > 0 && (long)w * h <= AutoPipelinePixels;

    /// <summary>"1 ONNX Runtime thread of 2 CPUs" for the run's report.</summary>
    public static string Describe(int threads) =>
        string.Create(CultureInfo.InvariantCulture, $"{threads} ONNX Runtime thread{(threads == 1 ? "" : "s")} on {Environment.ProcessorCount} CPU{(Environment.ProcessorCount == 1 ? "" : "s")}");
}
