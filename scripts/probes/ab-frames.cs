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
//
// A-MODEL and B-MODEL are .onnx files (the same file twice for a code change). TYPE:FIELD names a static int field of
// BiVM.CustomOps (e.g. BiVM.CustomOps.OnnxRuntime.OrtParallelRunner:Variant, added for the experiment): it is set to 0
// before each A frame and to 1 before each B frame, so that two code paths of one build can be compared. One intra-op
// thread (the calling thread's CPU time is then the frame's); downsample min(1, 512 / long side), or AB_RATIO.
using System.Reflection;
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
VideoMatter[] matters = [Open(args[2]), Open(args[3])];
VideoMatter Open(string model) => new(new VideoMatterOptions { ModelPath = model, IntraOpThreads = 1, DownsampleRatio = ratio });
var frame = new float[3 * w * h];
for (int i = 0; i < frame.Length; i++) frame[i] = 0.5f + 0.4f * MathF.Sin(0.05f * (i % w) + 0.07f * (i / w % h) + i / (w * h));
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
        toggle?.SetValue(null, k);
        double c0 = Clock.NowMilliseconds(threadCpu: true);
        matters[k].ProcessInto(frame, w, h, alpha, foreground);
        t[k] = Clock.NowMilliseconds(threadCpu: true) - c0;
    }
    if (round < 3) continue; // warm-up
    times[0].Add(t[0]);
    times[1].Add(t[1]);
    ratios.Add(t[1] / t[0]);
}
static double Quantile(List<double> v, double q) => v.Order().ElementAt((int)(q * (v.Count - 1)));
Console.WriteLine($"{w}x{h}, downsample {ratio}, {rounds} rounds: A {Quantile(times[0], 0.5):F2} ms, B {Quantile(times[1], 0.5):F2} ms (medians of CPU time per frame); " +
    $"B/A per round: median {Quantile(ratios, 0.5):F3} (quartiles {Quantile(ratios, 0.25):F3}, {Quantile(ratios, 0.75):F3})");
foreach (var m in matters) m.Dispose();
return 0;
