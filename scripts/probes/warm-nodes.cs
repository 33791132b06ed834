#:project ../../src/Benchmarking/BiVM.Benchmarking.csproj
#:property PublishAot=false
// What a frame would cost if every node found its inputs in the caches: each node of the main graph run alone, in a
// loop, on the inputs it gets in the whole model from real frames (as node-loop.cs, for every node at once), warm
// (its inputs and weights left in the caches by its previous run) and flushed (64 MB written between runs, so that it
// reads its inputs and weights from memory). The sums of the nodes' medians against the whole frame's time tell how
// much of a frame is waiting on data moved between nodes rather than the nodes' own work. From the repository root:
//
//   dotnet build -c Release scripts/probes/warm-nodes.cs          # then run the dll it names
//   dotnet <dll> models/bivm.onnx FRAMES.rgb 512 288 [RUNS] [TOP]
//
// FRAMES.rgb: raw rgb24 frames of that size (a few consecutive ones: the last frame's inputs are kept). One thread.
using BiVM.Benchmarking.Models;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;

if (args.Length < 4) { Console.Error.WriteLine("usage: warm-nodes MODEL.onnx FRAMES.rgb WIDTH HEIGHT [RUNS] [TOP]"); return 2; }
string modelPath = args[0], framesPath = args[1];
int w = int.Parse(args[2]), h = int.Parse(args[3]), runs = args.Length > 4 ? int.Parse(args[4]) : 100, top = args.Length > 5 ? int.Parse(args[5]) : 25;
var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelPath));
var frames = ModelBench.Rgb24Frames(framesPath, w, h);
var initializers = model.Graph.Initializer.ToDictionary(t => t.Name);
var graphInputs = model.Graph.Input.Select(i => i.Name).ToHashSet();

// Every value the nodes run alone read (not an initializer, not a graph input) captured as a graph output, its element
// type from the exporter's names (ModelBench.NamedOutput).
// The ai.bivm nodes and the refiner's If (the standard nodes left, small ones on shapes and the SHB mask's indices,
// are not run alone: their outputs' types are not in the file; node-profile.cs gives their time).
var all = model.Graph.Node.ToList();
var nodes = all.Where(n => n.Domain == "ai.bivm" || n.OpType == "If").ToList();
var read = nodes.SelectMany(n => n.OpType == "If" ? n.Input.Skip(1) : n.Input).Where(i => i.Length > 0 && !initializers.ContainsKey(i) && !graphInputs.Contains(i)).Distinct().ToList();
var produced = all.SelectMany(n => n.Output).ToHashSet();
read = read.Where(produced.Contains).ToList();
var capture = model.Clone();
foreach (var r in read) capture.Graph.Output.Add(ModelBench.NamedOutput(r));
var captured = new Dictionary<string, OrtValue>();
var graphFeeds = new Dictionary<string, OrtValue>();
using (var whole = new InferenceSession(capture.ToByteArray(), BiVM.Estimators.Video.MattingSession.CreateSessionOptions(1)))
    ModelBench.RunFrames(whole, frames, w, h, read, (k, inputs, values) =>
    {
        if (k != frames.Count - 1) return;
        for (int i = 0; i < read.Count; i++) captured[read[i]] = values[i];
        // The last frame's graph inputs, copied: they are the runner's after the call.
        foreach (var (name, value) in inputs)
        {
            var shape = value.GetTensorTypeAndShape().Shape;
            graphFeeds[name] = OrtValue.CreateTensorValueFromMemory(value.GetTensorDataAsSpan<float>().ToArray(), shape);
        }
    });

var flush = new int[16 << 20];
double warmSum = 0, coldSum = 0;
var rows = new List<(string Name, string Op, double Warm, double Cold)>();
foreach (var node in nodes)
{
    var feeds = node.Input.Where(i => i.Length > 0 && !initializers.ContainsKey(i)).Distinct().ToList();
    var single = new ModelProto { IrVersion = model.IrVersion, Graph = new GraphProto { Name = node.Name } };
    single.OpsetImport.AddRange(model.OpsetImport);
    single.Graph.Node.Add(node);
    foreach (var i in node.Input.Where(initializers.ContainsKey).Distinct()) single.Graph.Initializer.Add(initializers[i]);
    // An If's branches read values of the main graph by name: they become inputs of the one-node model too.
    var outer = node.Attribute.Where(a => a.G is not null).SelectMany(a => a.G.Node.SelectMany(n => n.Input))
        .Where(i => i.Length > 0 && (captured.ContainsKey(i) || graphFeeds.ContainsKey(i)) && !feeds.Contains(i)).Distinct().ToList();
    foreach (var i in node.Attribute.Where(a => a.G is not null).SelectMany(a => a.G.Node.SelectMany(n => n.Input)).Where(initializers.ContainsKey).Distinct())
        if (!single.Graph.Initializer.Any(t => t.Name == i)) single.Graph.Initializer.Add(initializers[i]);
    feeds.AddRange(outer);
    if (node.OpType == "If")
    {
        // The condition (downsample ratio ≠ 1): the frame's value, false at ratio 1.
        captured[node.Input[0]] = OrtValue.CreateTensorValueFromMemory(new[] { (byte)0 }, new long[] { 1 });
    }
    if (feeds.Any(f => !captured.ContainsKey(f) && !graphFeeds.ContainsKey(f))) { Console.Error.WriteLine($"{node.Name}: an input was not captured"); continue; }
    var values = feeds.Select(f => captured.TryGetValue(f, out var v) ? v : graphFeeds[f]).ToArray();
    foreach (var (f, v) in feeds.Zip(values))
        single.Graph.Input.Add(ModelBench.NamedOutput(f, OnnxType(v)));
    var outputs = node.Output.Where(o => o.Length > 0).ToArray();
    foreach (var o in outputs) single.Graph.Output.Add(ModelBench.NamedOutput(o));
    InferenceSession alone;
    try { alone = new InferenceSession(single.ToByteArray(), BiVM.Estimators.Video.MattingSession.CreateSessionOptions(1)); }
    catch (OnnxRuntimeException e) { Console.Error.WriteLine($"{node.Name}: not run alone ({e.Message.Split('\n')[0]})"); continue; }
    using (alone)
    {
        var options = new RunOptions();
        double Median(bool cold)
        {
            var times = new List<double>();
            for (int r = 0; r < runs; r++)
            {
                if (cold) for (int k = 0; k < flush.Length; k += 16) flush[k]++;
                long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                using var result = alone.Run(options, feeds.ToArray(), values, outputs);
                times.Add(System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            times.Sort();
            return times[times.Count / 2];
        }
        Median(false);
        double warm = Median(false), cold = Median(true);
        warmSum += warm; coldSum += cold;
        rows.Add((node.Name, node.OpType, warm, cold));
    }
}
Console.WriteLine($"{rows.Count} of {nodes.Count} nodes run alone ({w}x{h}, 1 thread, medians of {runs} runs): warm {warmSum:F2} ms, flushed {coldSum:F2} ms in sum");
foreach (var r in rows.OrderByDescending(r => r.Cold).Take(top))
    Console.WriteLine($"  {r.Warm,6:F3} ms warm {r.Cold,6:F3} ms flushed  {r.Op,-18} {r.Name}");
Console.WriteLine("  the fastest (each run's fixed cost, ONNX Runtime's Run and the node's own set-up, bounds them):");
foreach (var r in rows.OrderBy(r => r.Warm).Take(5))
    Console.WriteLine($"  {r.Warm,6:F3} ms warm {r.Cold,6:F3} ms flushed  {r.Op,-18} {r.Name}");
return 0;

static TensorProto.Types.DataType OnnxType(OrtValue v) => v.GetTensorTypeAndShape().ElementDataType switch
{
    Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float => TensorProto.Types.DataType.Float,
    Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.UInt64 => TensorProto.Types.DataType.Uint64,
    Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.UInt8 => TensorProto.Types.DataType.Uint8,
    Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Int64 => TensorProto.Types.DataType.Int64,
    Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Int32 => TensorProto.Types.DataType.Int32,
    Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Bool => TensorProto.Types.DataType.Bool,
    var e => throw new NotSupportedException(e.ToString()),
};
