#:project ../../src/Benchmarking/BiVM.Benchmarking.csproj
#:property PublishAot=false
using BiVM.Benchmarking.Models;
using BiVM.Benchmarking.Quick;
using BiVM.Estimators.Video;
// Two model files frame by frame on the same input, alternating which goes first, in one process: the median time
// per frame of each (calling-thread CPU time on 1 thread, wall time on more) and the largest difference of their
// outputs (idle workers do not spin, so neither session runs beside the other's spinning threads). On a noisy host
// the paired ratio B/A is the figure to read; run it again with the files swapped, since
// the second session measured ~2 % faster in some runs. From the repository root:
//   dotnet run -c Release scripts/probes/compare-models.cs -- A.onnx B.onnx FRAMES WIDTHxHEIGHT THREADS [DOWNSAMPLE]
// (AB_FRAMES=FRAMES.rgb: real frames, raw rgb24 of that size, in turn instead of the test card, as ab-frames.cs takes them)
var size = args[3].Split('x'); int w = int.Parse(size[0]), h = int.Parse(size[1]), frames = int.Parse(args[2]), threads = int.Parse(args[4]);
float ds = args.Length > 5 ? float.Parse(args[5]) : Math.Min(1f, 512f / Math.Max(w, h));
var m = new[] { args[0], args[1] }.Select(p => new VideoMatter(new VideoMatterOptions { ModelPath = p, IntraOpThreads = threads, DownsampleRatio = ds, SpinWhileIdle = false })).ToArray();
var inputs = Environment.GetEnvironmentVariable("AB_FRAMES") is { } framesPath ? ModelBench.Rgb24Frames(framesPath, w, h) : [ModelBench.TestCard(w, h)];
var alpha = new[] { new float[w * h], new float[w * h] };
var fgr = new[] { new float[3 * w * h], new float[3 * w * h] };
var times = new[] { new List<double>(), new List<double>() };
double maxA = 0, maxF = 0;
for (int f = 0; f < frames; f++)
{
    for (int k = 0; k < 2; k++)
    {
        int j = (f & 1) == 0 ? k : 1 - k;
        double t0 = Clock.NowMilliseconds(threadCpu: threads == 1);
        m[j].ProcessInto(inputs[f % inputs.Count], w, h, alpha[j], fgr[j]);
        if (f >= 3) times[j].Add(Clock.NowMilliseconds(threadCpu: threads == 1) - t0);
    }
    for (int i = 0; i < w * h; i++) maxA = Math.Max(maxA, Math.Abs(alpha[0][i] - alpha[1][i]));
    for (int i = 0; i < 3 * w * h; i++) maxF = Math.Max(maxF, Math.Abs(fgr[0][i] - fgr[1][i]));
}
static double Median(List<double> v) => v.Order().ElementAt(v.Count / 2);
Console.WriteLine($"{w}x{h} r={ds} {threads}T: A {Median(times[0]):F2} ms, B {Median(times[1]):F2} ms, B/A {Median(times[1]) / Median(times[0]):F3}; max |pha diff| {maxA:E2}, |fgr diff| {maxF:E2}");
