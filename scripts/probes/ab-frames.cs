#:project ../../src/Benchmarking/BiVM.Benchmarking.csproj
#:property PublishAot=false
// Two configurations A and B of one frame loop in ONE process, their frames alternated (A B, B A, A B, …): the ratio
// B/A of each round's CPU time, and its median. On the 2-vCPU VMs the same build runs 20–40 % faster or slower from one
// minute to the next and from one process to the next, which hides any change below ~10 % when separate runs are
// compared; a round's two frames run within milliseconds of each other, so the median of 1500 round ratios resolves
// about 1 % (an A/A run gives 0.999). From the repository root (docs/kernels.md, "A/B in one process"):
//
//   dotnet build -c Release scripts/probes/ab-frames.cs       # then run the dll it names
//   dotnet <dll> ROUNDS WIDTHxHEIGHT A-MODEL B-MODEL [TYPE:FIELD]
//   (AB_FRAMES=FRAMES.rgb: real frames, raw rgb24 of that size, in turn instead of the test card)
//
// A-MODEL and B-MODEL are .onnx files (the same file twice for a code change). TYPE:FIELD names a static int field of
// BiVM.CustomOps (e.g. BiVM.CustomOps.OnnxRuntime.OrtParallelRunner:Variant, added for the experiment): it is set to 0
// before each A frame and to 1 before each B frame (AB_VALUES=a,b: other values), so that two code paths of one build can be compared (one file
// twice with a toggle: one session serves both sides; AB_AT_OPEN=1 with two files for a choice a kernel takes when it is
// made: the toggle then also holds each side's value while that side's session is made). One intra-op thread, timed as the calling thread's CPU time (the
// frame's, then), or AB_THREADS threads, timed as wall time (then only with a toggle and one file: two sessions of two
// threads each disturb each other's frames, quartiles 0.65 and 1.5 for one file against itself); downsample
// min(1, 512 / long side), or AB_RATIO.
using System.Reflection;
using BiVM.Benchmarking.Models;
using BiVM.Benchmarking.Quick;
using BiVM.Estimators.Video;

if (args.Length < 4) { Console.Error.WriteLine("usage: ab-frames ROUNDS WIDTHxHEIGHT A-MODEL B-MODEL [TYPE:FIELD]"); return 2; }
int rounds = int.Parse(args[0]);
var size = args[1].Split('x');
int w = int.Parse(size[0]), h = int.Parse(size[1]);
float ratio = Environment.GetEnvironmentVariable("AB_RATIO") is { } r ? float.Parse(r) : Math.Min(1f, 512f / Math.Max(w, h));
FieldInfo? toggle = null;
if (args.Length > 4)
{
    var parts = args[4].Split(':');
    toggle = typeof(BiVM.CustomOps.OnnxRuntime.BiVMOps).Assembly.GetType(parts[0])?.GetField(parts[1], BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)
        ?? throw new ArgumentException($"no static field {args[4]} in BiVM.CustomOps");
}
int threads = int.Parse(Environment.GetEnvironmentVariable("AB_THREADS") ?? "1");
// One file and a toggle: one session for both sides (a second session's spinning pool would disturb the first's frames).
// AB_VALUES=a,b: the values the toggle takes for A and B (default 0,1), so that one build compares any two variants.
int[] sideValues = Environment.GetEnvironmentVariable("AB_VALUES") is { } values ? values.Split(',').Select(int.Parse).ToArray() : [0, 1];
// AB_AT_OPEN=1: the toggle also holds each side's value while that side's session is made, for a choice a kernel takes
// when it is created (a layout of its weights); give two files then (a copy of the model), so that each side has its own.
bool atOpen = Environment.GetEnvironmentVariable("AB_AT_OPEN") == "1";
if (atOpen) toggle?.SetValue(null, sideValues[0]);
var first = Open(args[2]);
if (atOpen) toggle?.SetValue(null, sideValues[1]);
VideoMatter[] matters = [first, toggle is not null && args[3] == args[2] ? first : Open(args[3])];
VideoMatter Open(string model) => new(new VideoMatterOptions { ModelPath = model, IntraOpThreads = threads, DownsampleRatio = ratio });
// The test card, or with AB_FRAMES real frames (raw rgb24 of this size, as node-loop.cs takes them) in turn: the SHB
// mask follows the frame, and the test card's is not a real frame's.
var frames = Environment.GetEnvironmentVariable("AB_FRAMES") is { } framesPath ? ModelBench.Rgb24Frames(framesPath, w, h) : [ModelBench.TestCard(w, h)];
var alpha = new float[w * h];
var foreground = new float[3 * w * h];
List<double>[] times = [[], []];
var ratios = new List<double>();
for (int round = 0; round < rounds + 3; round++)
{
    var t = new double[2];
    for (int j = 0; j < 2; j++)
    {
        int k = round % 2 == 0 ? j : 1 - j; // alternate which side goes first
        toggle?.SetValue(null, sideValues[k]);
        double c0 = Clock.NowMilliseconds(threadCpu: threads == 1);
        matters[k].ProcessInto(frames[round % frames.Count], w, h, alpha, foreground);
        t[k] = Clock.NowMilliseconds(threadCpu: threads == 1) - c0;
    }
    if (round < 3) continue; // warm-up
    times[0].Add(t[0]);
    times[1].Add(t[1]);
    ratios.Add(t[1] / t[0]);
}
static double Quantile(List<double> v, double q) => v.Order().ElementAt((int)(q * (v.Count - 1)));
Console.WriteLine($"{w}x{h}, downsample {ratio}, {threads} thread(s), {rounds} rounds: A {Quantile(times[0], 0.5):F2} ms, B {Quantile(times[1], 0.5):F2} ms (medians of {(threads == 1 ? "CPU" : "wall")} time per frame); " +
    $"B/A per round: median {Quantile(ratios, 0.5):F3} (quartiles {Quantile(ratios, 0.25):F3}, {Quantile(ratios, 0.75):F3})");
foreach (var m in matters.Distinct()) m.Dispose();
return 0;
