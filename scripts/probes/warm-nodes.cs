#:project ../../src/Estimators/BiVM.Estimators.csproj
#:project ../../src/Graph/BiVM.Graph.csproj
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
using Microsoft.ML.OnnxRuntime;
using Onnx;
using Google.Protobuf;

if (args.Length < 4) { Console.Error.WriteLine("usage: warm-nodes MODEL.onnx FRAMES.rgb WIDTH HEIGHT [RUNS] [TOP]"); return 2; }
string modelPath = args[0], framesPath = args[1];
int w = int.Parse(args[2]), h = int.Parse(args[3]), runs = args.Length > 4 ? int.Parse(args[4]) : 100, top = args.Length > 5 ? int.Parse(args[5]) : 25;
var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelPath));
var rgb = File.ReadAllBytes(framesPath);
int frames = rgb.Length / (3 * w * h);
if (frames == 0) { Console.Error.WriteLine($"{framesPath}: holds no whole {w}x{h} RGB24 frame"); return 2; }
var initializers = model.Graph.Initializer.ToDictionary(t => t.Name);
var graphInputs = model.Graph.Input.Select(i => i.Name).ToHashSet();

// Element types from the exporter's names, as node-loop.cs.
static int TypeOf(string name) => name.EndsWith("packed", StringComparison.Ordinal) || name.EndsWith("packed_second", StringComparison.Ordinal)
    ? (int)TensorProto.Types.DataType.Uint64 : name.EndsWith("uint8", StringComparison.Ordinal) ? (int)TensorProto.Types.DataType.Uint8 : (int)TensorProto.Types.DataType.Float;
static ValueInfoProto Info(string name, int type) => new() { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = type } } };

// Every value some node reads (not an initializer, not a graph input) captured as a graph output; types of standard
// nodes' outputs that are not float (shapes, casts, the mask's indices) are taken from a first run's values.
// The ai.bivm nodes and the refiner's If (the standard nodes left, small ones on shapes and the SHB mask's indices,
// are not run alone: their outputs' types are not in the file; node-profile.cs gives their time).
var all = model.Graph.Node.ToList();
var nodes = all.Where(n => n.Domain == "ai.bivm" || n.OpType == "If").ToList();
var read = nodes.SelectMany(n => n.OpType == "If" ? n.Input.Skip(1) : n.Input).Where(i => i.Length > 0 && !initializers.ContainsKey(i) && !graphInputs.Contains(i)).Distinct().ToList();
var produced = all.SelectMany(n => n.Output).ToHashSet();
read = read.Where(produced.Contains).ToList();
var types = new Dictionary<string, int>();
var known = model.Graph.ValueInfo.ToDictionary(v => v.Name, v => v.Type.TensorType.ElemType);
foreach (var r in read) types[r] = known.TryGetValue(r, out var t) && t != 0 ? t : TypeOf(r);
var capture = model.Clone();
foreach (var r in read) if (!capture.Graph.Output.Any(o => o.Name == r)) capture.Graph.Output.Add(Info(r, types[r]));
var captured = new Dictionary<string, OrtValue>();
var graphFeeds = new Dictionary<string, OrtValue>();
using (var whole = new InferenceSession(capture.ToByteArray(), BiVM.Estimators.Video.MattingSession.CreateSessionOptions(1)))
{
    var state = new[] { "r1i", "r2i", "r3i", "r4i" }.ToDictionary(r => r, _ => OrtValue.CreateTensorValueFromMemory(new float[1], new long[] { 1, 1, 1, 1 }));
    var names = new[] { "r1o", "r2o", "r3o", "r4o" }.Concat(read.Where(r => !r.StartsWith("r") || r.Length != 3)).Distinct().ToArray();
    for (int k = 0; k < frames; k++)
    {
        var src = new float[3 * w * h];
        for (int p = 0; p < w * h; p++)
            for (int c = 0; c < 3; c++) src[c * w * h + p] = rgb[(long)k * 3 * w * h + 3 * p + c] / 255f;
        var inputs = new Dictionary<string, OrtValue>(state)
        {
            ["src"] = OrtValue.CreateTensorValueFromMemory(src, new long[] { 1, 3, h, w }),
            ["downsample_ratio"] = OrtValue.CreateTensorValueFromMemory(new[] { 1f }, new long[] { 1 }),
        };
        var outs = whole.Run(new RunOptions(), inputs.Keys.ToArray(), inputs.Values.ToArray(), names);
        if (k == frames - 1)
        {
            foreach (var kv in inputs) graphFeeds[kv.Key] = kv.Value;
            for (int i = 0; i < names.Length; i++) captured[names[i]] = outs[i];
        }
        for (int i = 0; i < 4; i++) state[$"r{i + 1}i"] = outs[i];
    }
}

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
        single.Graph.Input.Add(Info(f, (int)OnnxType(v)));
    var outputs = node.Output.Where(o => o.Length > 0).ToArray();
    foreach (var o in outputs) single.Graph.Output.Add(Info(o, types.TryGetValue(o, out var t) ? t : known.TryGetValue(o, out var t2) && t2 != 0 ? t2 : TypeOf(o)));
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
