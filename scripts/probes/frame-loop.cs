#:project ../../src/Benchmarking/BiVM.Benchmarking.csproj
#:property PublishAot=false
// One model, frame after frame, as bivm matte runs it (VideoMatter.ProcessInto, state carried, buffers kept): a
// process with nothing else in it, for a sampling profiler. Run from the repository root (docs/kernels.md, "Where a
// frame goes, by function"):
//
//   dotnet build -c Release scripts/probes/frame-loop.cs      # then run the dll it names, so the build is not profiled
//   (AB_FRAMES=FRAMES.rgb: real frames of that size in turn, as ab-frames.cs takes them; THREADS "pipelined":
//   PipelinedVideoMatter with BIVM_WORKERS workers, default one per core; the stream's time and the process's CPU time
//   per frame after its first quarter of frames, at most 50)
//   DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 perf record -F 2999 -o /tmp/bivm.perf \
//       dotnet <that dll> models/bivm.onnx 300 [WIDTHxHEIGHT] [THREADS]
//   perf report -i /tmp/bivm.perf --no-children --sort sym --stdio
//
// PerfMapEnabled writes /tmp/perf-PID.map so perf names the JIT-compiled methods; without EnableWriteXorExecute=0 the
// runtime's double-mapped code pages hide them. The emitted popcount kernels are not in the map: perf shows their
// addresses. Prints the mean time per frame, and after 3 warm-up frames the median wall time and the median CPU time
// of the calling thread (with 1 thread ONNX Runtime runs every node on it: on a noisy host the steadier figure, and
// the one to compare two builds by, alternating them). Defaults: 512x288, 1 thread. FL_SPIN=0: ONNX Runtime's intra-op
// workers sleep between parallel sections instead of spinning.
using BiVM.Benchmarking.Models;
using BiVM.Benchmarking.Quick;
using BiVM.Estimators.Video;

if (args.Length < 1) { Console.Error.WriteLine("usage: frame-loop MODEL.onnx [FRAMES] [WIDTHxHEIGHT] [THREADS]"); return 2; }
int frames = args.Length > 1 ? int.Parse(args[1]) : 200;
var size = (args.Length > 2 ? args[2] : "512x288").Split('x');
int w = int.Parse(size[0]), h = int.Parse(size[1]);
if (args.Length > 3 && args[3] == "pipelined")
{
    // PipelinedVideoMatter: BIVM_WORKERS workers (0 or unset: one per core) over the model's four stages.
    using var pipelined = new PipelinedVideoMatter(new VideoMatterOptions { ModelPath = args[0], IntraOpThreads = int.Parse(Environment.GetEnvironmentVariable("BIVM_WORKERS") ?? "0") });
    var inputs = Frames();
    int read = 0, written = 0;
    double startAt = 0, cpuAt = 0;
    var process = System.Diagnostics.Process.GetCurrentProcess();
    var watch = System.Diagnostics.Stopwatch.StartNew();
    pipelined.Run(w, h, buffer => { if (read == frames) return false; inputs[read++ % inputs.Count].CopyTo(buffer); return true; },
        (_, _) =>
        {
            if (++written != Math.Min(frames / 4, 50)) return;
            startAt = watch.Elapsed.TotalMilliseconds;
            process.Refresh();
            cpuAt = process.TotalProcessorTime.TotalMilliseconds;
        });
    process.Refresh();
    int timed = frames - Math.Min(frames / 4, 50);
    // The process's CPU time over the same frames: both workers' (and anything else the process ran), so that a
    // schedule's cost shows beside its speed (docs/kernels.md, twentieth session: 1.04–1.12× a one-thread frame's CPU).
    Console.WriteLine($"{frames} frames of {w}x{h} pipelined on {pipelined.Workers} workers: {(watch.Elapsed.TotalMilliseconds - startAt) / timed:F2} ms per frame"
        + $" and {(process.TotalProcessorTime.TotalMilliseconds - cpuAt) / timed:F2} ms of the process's CPU per frame, over the last {timed} frames");
    return 0;
}
int threads = args.Length > 3 ? int.Parse(args[3]) : 1;
// FL_SPIN=0: ONNX Runtime's intra-op workers sleep between parallel sections instead of spinning (SpinWhileIdle false).
using var matter = new VideoMatter(new VideoMatterOptions { ModelPath = args[0], IntraOpThreads = threads, DownsampleRatio = Math.Min(1f, 512f / Math.Max(w, h)),
    SpinWhileIdle = Environment.GetEnvironmentVariable("FL_SPIN") != "0" });
var frameList = Frames();
var alpha = new float[w * h];
var foreground = new float[3 * w * h];
var clock = System.Diagnostics.Stopwatch.StartNew();
var wall = new List<double>();
var cpu = new List<double>();
for (int f = 0; f < frames; f++)
{
    double w0 = Clock.NowMilliseconds(threadCpu: false), c0 = Clock.NowMilliseconds(threadCpu: true);
    matter.ProcessInto(frameList[f % frameList.Count], w, h, alpha, foreground);
    if (f < 3) continue;
    wall.Add(Clock.NowMilliseconds(threadCpu: false) - w0);
    cpu.Add(Clock.NowMilliseconds(threadCpu: true) - c0);
}
static double Median(List<double> v) => v.Count == 0 ? double.NaN : v.Order().ElementAt(v.Count / 2);
// FRAME_TIMES=1: also the JIT's warm-up as it shows in the frames (docs/kernels.md, "the JIT's warm-up"): the median of
// frames 3-14 (what 3 warm-up frames and 12 timed ones measured), the mean of frames 3-32, the median from frame 60 on.
if (Environment.GetEnvironmentVariable("FRAME_TIMES") is not null && wall.Count > 60)
    Console.WriteLine($"frames 3-14 median {Median(wall.Take(12).ToList()):F1}, 3-32 mean {wall.Take(30).Average():F1}, from 60 median {Median(wall.Skip(57).ToList()):F1}");
Console.WriteLine($"{frames} frames of {w}x{h} on {threads} thread(s): {clock.Elapsed.TotalMilliseconds / frames:F1} ms per frame; " +
    $"after 3 warm-up frames median {Median(wall):F1} ms wall, {Median(cpu):F1} ms CPU of the calling thread");
return 0;

// The test card, or with AB_FRAMES real frames (raw rgb24 of this size, as ab-frames.cs takes them) in turn: the SHB
// mask, and with it the sparse convs' work, follows the frame.
List<float[]> Frames() => Environment.GetEnvironmentVariable("AB_FRAMES") is { } path ? ModelBench.Rgb24Frames(path, w, h) : [ModelBench.TestCard(w, h)];
