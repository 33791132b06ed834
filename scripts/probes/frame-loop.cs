#:project ../../src/Estimators/BiVM.Estimators.csproj
#:property PublishAot=false
// One model, frame after frame, as bivm matte runs it (VideoMatter.ProcessInto, state carried, buffers kept): a
// process with nothing else in it, for a sampling profiler. Run from the repository root (docs/kernels.md, "Where a
// frame goes, by function"):
//
//   dotnet build -c Release scripts/probes/frame-loop.cs      # then run the dll it names, so the build is not profiled
//   DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 perf record -F 2999 -o /tmp/bivm.perf \
//       dotnet <that dll> models/bivm.onnx 300 [WIDTHxHEIGHT] [THREADS]
//   perf report -i /tmp/bivm.perf --no-children --sort sym --stdio
//
// PerfMapEnabled writes /tmp/perf-PID.map so perf names the JIT-compiled methods; without EnableWriteXorExecute=0 the
// runtime's double-mapped code pages hide them. The emitted popcount kernels are not in the map: perf shows their
// addresses. Prints the mean time per frame. Defaults: 512x288, 1 thread.
using BiVM.Estimators.Video;

if (args.Length < 1) { Console.Error.WriteLine("usage: frame-loop MODEL.onnx [FRAMES] [WIDTHxHEIGHT] [THREADS]"); return 2; }
int frames = args.Length > 1 ? int.Parse(args[1]) : 200;
var size = (args.Length > 2 ? args[2] : "512x288").Split('x');
int w = int.Parse(size[0]), h = int.Parse(size[1]), threads = args.Length > 3 ? int.Parse(args[3]) : 1;
using var matter = new VideoMatter(new VideoMatterOptions { ModelPath = args[0], IntraOpThreads = threads, DownsampleRatio = Math.Min(1f, 512f / Math.Max(w, h)) });
var frame = new float[3 * w * h];
for (int i = 0; i < frame.Length; i++) frame[i] = 0.5f + 0.4f * MathF.Sin(0.05f * (i % w) + 0.07f * (i / w % h) + i / (w * h));
var alpha = new float[w * h];
var foreground = new float[3 * w * h];
var clock = System.Diagnostics.Stopwatch.StartNew();
for (int f = 0; f < frames; f++) matter.ProcessInto(frame, w, h, alpha, foreground);
Console.WriteLine($"{frames} frames of {w}x{h} on {threads} thread(s): {clock.Elapsed.TotalMilliseconds / frames:F1} ms per frame");
return 0;
