#:project ../../src/Benchmarking/BiVM.Benchmarking.csproj
#:property PublishAot=false
// One node of a model alone, in a loop, on the inputs it gets in the whole model from real frames: where a node's time
// goes without the rest of the frame around it (run it under perf as frame-loop.cs, docs/kernels.md "Where a frame
// goes, by function"), and how its time changes with a code change. The whole model first runs the frames (state
// carried, downsample 1) with the node's inputs added as graph outputs; the last frame's inputs are kept (an SHB
// mask's density is printed), and a model holding only that node and its initializers then runs RUNS times on them.
// Its inputs stay the same from run to run, so they sit in the caches as they would not in the frame: compare builds
// with it, then confirm on whole frames (ab-frames.cs). From the repository root:
//
//   ffmpeg -loglevel error -ss 5 -i VIDEO -frames:v 4 -vf scale=512:288 -pix_fmt rgb24 -f rawvideo /tmp/frames.rgb
//   dotnet build -c Release scripts/probes/node-loop.cs          # then run the dll it names
//   dotnet <dll> models/bivm.onnx NODE /tmp/frames.rgb 512 288 [RUNS]
//
// NODE is a node name of the file (node-profile.cs lists the costly ones), or FIRST..LAST: the nodes from FIRST to LAST
// in the file's order, as one model (its inputs what they read and do not make, its outputs what they make and the rest
// of the file reads). Prints the median and fastest run.
// NODE_FLUSH=1: 64 MB are written between runs (one int per cache line), so that the node reads its inputs from memory
// as in the frame, where another node has just written them (decode0's concatenation: 0.83 ms warm, 1.03 ms flushed).
using BiVM.Benchmarking.Models;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

if (args.Length < 5) { Console.Error.WriteLine("usage: node-loop MODEL.onnx NODE FRAMES.rgb WIDTH HEIGHT [RUNS]"); return 2; }
string modelPath = args[0], target = args[1], framesPath = args[2];
int w = int.Parse(args[3]), h = int.Parse(args[4]), runs = args.Length > 5 ? int.Parse(args[5]) : 300;
var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelPath));
List<NodeProto> nodes;
if (target.Split("..") is [var firstName, var lastName])
{
    int a = model.Graph.Node.ToList().FindIndex(n => n.Name == firstName), b = model.Graph.Node.ToList().FindIndex(n => n.Name == lastName);
    if (a < 0 || b < a) { Console.Error.WriteLine($"{modelPath}: no node range '{target}' in the main graph"); return 2; }
    nodes = model.Graph.Node.Skip(a).Take(b - a + 1).ToList();
}
else if (model.Graph.Node.FirstOrDefault(n => n.Name == target) is { } one) nodes = [one];
else { Console.Error.WriteLine($"{modelPath}: no node named '{target}' in the main graph"); return 2; }
var frames = ModelBench.Rgb24Frames(framesPath, w, h);
var initializers = model.Graph.Initializer.ToDictionary(t => t.Name);
var made = nodes.SelectMany(n => n.Output).Where(o => o.Length > 0).ToHashSet();
var feeds = nodes.SelectMany(n => n.Input).Where(i => i.Length > 0 && !initializers.ContainsKey(i) && !made.Contains(i)).Distinct().ToList();

var capture = model.Clone();
foreach (var f in feeds) capture.Graph.Output.Add(ModelBench.NamedOutput(f));
var captured = new Dictionary<string, OrtValue>();
using (var whole = new InferenceSession(capture.ToByteArray(), BiVM.Estimators.Video.MattingSession.CreateSessionOptions(1)))
    ModelBench.RunFrames(whole, frames, w, h, feeds, (_, _, values) => { for (int i = 0; i < feeds.Count; i++) captured[feeds[i]] = values[i]; });
foreach (var f in feeds)
{
    var info = captured[f].GetTensorTypeAndShape();
    string density = "";
    if (info.ElementDataType == TensorElementType.UInt8)
    {
        var cells = captured[f].GetTensorDataAsSpan<byte>();
        int on = 0;
        foreach (var b in cells) if (b != 0) on++;
        density = $", {on} of {cells.Length} cells active ({100.0 * on / cells.Length:F1} %)";
    }
    Console.WriteLine($"input {f}: {info.ElementDataType} [{string.Join(", ", info.Shape)}]{density}");
}

var single = new ModelProto { IrVersion = model.IrVersion, Graph = new GraphProto { Name = target } };
single.OpsetImport.AddRange(model.OpsetImport);
single.Graph.Node.AddRange(nodes);
foreach (var i in nodes.SelectMany(n => n.Input).Where(initializers.ContainsKey).Distinct()) single.Graph.Initializer.Add(initializers[i]);
foreach (var f in feeds) single.Graph.Input.Add(ModelBench.NamedOutput(f));
var readOutside = model.Graph.Node.Except(nodes).SelectMany(n => n.Input).Concat(model.Graph.Output.Select(o => o.Name)).ToHashSet();
var outputs = nodes.Count == 1 ? nodes[0].Output.Where(o => o.Length > 0).ToArray() : made.Where(readOutside.Contains).ToArray();
foreach (var o in outputs) single.Graph.Output.Add(ModelBench.NamedOutput(o));
// NODE_THREADS=N: the node alone on N intra-op threads (default 1).
using var alone = new InferenceSession(single.ToByteArray(), BiVM.Estimators.Video.MattingSession.CreateSessionOptions(int.Parse(Environment.GetEnvironmentVariable("NODE_THREADS") ?? "1")));
var feedNames = feeds.ToArray();
var feedValues = feeds.Select(f => captured[f]).ToArray();
var options = new RunOptions();
var times = new List<double>();
var flush = Environment.GetEnvironmentVariable("NODE_FLUSH") is null ? null : new int[16 << 20]; // 64 MB: more than this host's caches
for (int r = 0; r < runs; r++)
{
    if (flush is not null) for (int k = 0; k < flush.Length; k += 16) flush[k]++;
    long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
    using var result = alone.Run(options, feedNames, feedValues, outputs);
    times.Add(System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
}
times.Sort();
Console.WriteLine($"{target}: median {times[times.Count / 2]:F3} ms, fastest {times[0]:F3} ms over {runs} runs");
return 0;
