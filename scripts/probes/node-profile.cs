#:project ../../src/Benchmarking/BiVM.Benchmarking.csproj
#:property PublishAot=false
// ONNX Runtime's profile per node (not per op type as bivm bench --models --profile): the nodes that take the most
// kernel time per frame, with their output shapes (downsample default: min(1, 512 / long side)). From the repository root:
//   dotnet run -c Release scripts/probes/node-profile.cs -- models/bivm.onnx [FRAMES] [WIDTHxHEIGHT] [THREADS] [TOP] [DOWNSAMPLE]
// (AB_FRAMES=FRAMES.rgb: real frames, raw rgb24 of that size, in turn instead of the test card, as ab-frames.cs: the SHB
// mask, and with it the sparse convs' work, follows the frame)
using System.Text.Json;
using BiVM.Benchmarking.Models;
using BiVM.Estimators.Video;

if (args.Length < 1) { Console.Error.WriteLine("usage: node-profile MODEL.onnx [FRAMES] [WIDTHxHEIGHT] [THREADS] [TOP]"); return 2; }
int frames = args.Length > 1 ? int.Parse(args[1]) : 10;
var size = (args.Length > 2 ? args[2] : "512x288").Split('x');
int w = int.Parse(size[0]), h = int.Parse(size[1]), threads = args.Length > 3 ? int.Parse(args[3]) : 1;
int top = args.Length > 4 ? int.Parse(args[4]) : 40;
string folder = Directory.CreateTempSubdirectory("node-profile").FullName;
try
{
    string file;
    using (var session = new MattingSession(File.ReadAllBytes(args[0]), "probe", threads, profilePrefix: Path.Combine(folder, "ort")))
    using (var matter = new VideoMatter(session, args.Length > 5 ? float.Parse(args[5]) : Math.Min(1f, 512f / Math.Max(w, h))))
    {
        var inputs = Environment.GetEnvironmentVariable("AB_FRAMES") is { } framesPath ? ModelBench.Rgb24Frames(framesPath, w, h) : [ModelBench.TestCard(w, h)];
        float[] alpha = new float[w * h], foreground = new float[3 * w * h];
        // As bivm matte runs a model: outputs in buffers kept from frame to frame (fresh arrays would add page faults).
        for (int f = 0; f < 3; f++) matter.ProcessInto(inputs[f % inputs.Count], w, h, alpha, foreground); // warm-up frames are profiled too: subtracted below by taking the last FRAMES
        for (int f = 0; f < frames; f++) matter.ProcessInto(inputs[f % inputs.Count], w, h, alpha, foreground);
        file = session.EndProfiling();
    }
    using var doc = JsonDocument.Parse(File.ReadAllText(file));
    var runs = new Dictionary<string, List<double>>();
    var info = new Dictionary<string, string>();
    foreach (var e in doc.RootElement.EnumerateArray())
    {
        if (!e.TryGetProperty("cat", out var cat) || cat.GetString() != "Node") continue;
        string name = e.GetProperty("name").GetString() ?? "";
        if (!name.EndsWith("_kernel_time", StringComparison.Ordinal)) continue;
        if (!runs.TryGetValue(name, out var list)) runs[name] = list = [];
        list.Add(e.GetProperty("dur").GetDouble());
        if (!info.ContainsKey(name) && e.TryGetProperty("args", out var a))
        {
            string op = a.TryGetProperty("op_name", out var o) ? o.GetString() ?? "?" : "?";
            string shapes = a.TryGetProperty("output_type_shape", out var s) ? s.GetRawText() : "";
            info[name] = $"{op} {shapes}";
        }
    }
    var perNode = runs.ToDictionary(kv => kv.Key, kv => kv.Value.TakeLast(frames).Sum() / 1000 / frames);
    double total = perNode.Values.Sum();
    Console.WriteLine($"{total:F2} ms per frame of kernel time over {perNode.Count} nodes ({w}x{h}, {threads} thread(s))");
    foreach (var (name, ms) in perNode.OrderByDescending(kv => kv.Value).Take(top))
        Console.WriteLine($"{ms,7:F2} ms {100 * ms / total,5:F1} %  {name[..^"_kernel_time".Length]}  {info[name]}");
    return 0;
}
finally { Directory.Delete(folder, recursive: true); }
