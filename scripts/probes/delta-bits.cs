#:project ../../src/Benchmarking/BiVM.Benchmarking.csproj
#:property PublishAot=false
// How many of each binary conv's output pixels see the same input bits as in the previous frame (their popcounts
// would be the previous frame's): every BinaryConv2d / SparseBinaryConv2d node's X captured over consecutive real
// frames (state carried, downsample 1), its bits formed against the node's τ (float X) or taken as packed (uint64 X),
// and an output pixel counted "clean" when no bit of any pixel in its receptive field changed since the last frame.
//   dotnet build -c Release scripts/probes/delta-bits.cs ; dotnet <dll> models/bivm.onnx FRAMES.rgb 512 288 [FRAMES]
using BiVM.Benchmarking.Models;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

string modelPath = args[0], framesPath = args[1];
int w = int.Parse(args[2]), h = int.Parse(args[3]);
var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelPath));
var all = ModelBench.Rgb24Frames(framesPath, w, h);
var frames = all.Take(args.Length > 4 ? int.Parse(args[4]) : 20).ToList();
var initializers = model.Graph.Initializer.ToDictionary(t => t.Name);
var convs = model.Graph.Node.Where(n => n.OpType is "BinaryConv2d" or "SparseBinaryConv2d").ToList();
var produced = model.Graph.Node.SelectMany(n => n.Output).ToHashSet();
// A conv handed its input packed reads XPacked; X then only gives shapes.
static string XName(NodeProto n) => n.Input.Count > BiVM.Contracts.BinaryConvSchema.InputXPacked && n.Input[BiVM.Contracts.BinaryConvSchema.InputXPacked].Length > 0
    ? n.Input[BiVM.Contracts.BinaryConvSchema.InputXPacked] : n.Input[BiVM.Contracts.BinaryConvSchema.InputX];
convs = convs.Where(n => produced.Contains(XName(n))).ToList();
var feeds = convs.Select(XName).Distinct().ToList();
var capture = model.Clone();
foreach (var f in feeds) capture.Graph.Output.Add(ModelBench.NamedOutput(f));
float[] Floats(TensorProto t) => t.FloatData.Count > 0 ? t.FloatData.ToArray() : System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray();
// Per conv: the previous frame's input bits (a float X packed against the conv's own τ), and its clean shares so far.
var prevBits = new Dictionary<string, ulong[]>();
var clean = new Dictionary<string, (double Clean, int Count, long Pixels)>();
using var whole = new InferenceSession(capture.ToByteArray(), BiVM.Estimators.Video.MattingSession.CreateSessionOptions(1));
ModelBench.RunFrames(whole, frames, w, h, feeds, (_, _, outs) =>
{
    var values = feeds.Select((f, i) => (f, outs[i])).ToDictionary(t => t.f, t => t.Item2);
    foreach (var n in convs)
    {
        var x = values[XName(n)];
        var shape = x.GetTensorTypeAndShape().Shape;
        int H, W, words; ulong[] bits;
        if (x.GetTensorTypeAndShape().ElementDataType == TensorElementType.UInt64)
        {
            H = (int)shape[1]; W = (int)shape[2]; words = (int)shape[3];
            bits = x.GetTensorDataAsSpan<ulong>().ToArray();
        }
        else
        {
            int C = (int)shape[1]; H = (int)shape[2]; W = (int)shape[3]; words = (C + 63) / 64;
            var tau = Floats(initializers[n.Input[BiVM.Contracts.BinaryConvSchema.InputTau]]);
            var v = x.GetTensorDataAsSpan<float>();
            bits = new ulong[H * W * words];
            for (int c = 0; c < C; c++)
                for (int p = 0; p < H * W; p++)
                    if (v[c * H * W + p] > tau[c]) bits[p * words + c / 64] |= 1UL << (c % 64);
        }
        string key = n.Name;
        if (prevBits.TryGetValue(key, out var prev) && prev.Length == bits.Length)
        {
            var changed = new bool[H * W];
            for (int p = 0; p < H * W; p++)
                for (int q = 0; q < words; q++) if (bits[p * words + q] != prev[p * words + q]) { changed[p] = true; break; }
            int[] ks = n.Attribute.FirstOrDefault(a => a.Name == "kernel_shape")?.Ints.Select(i => (int)i).ToArray() ?? [1, 1];
            int[] st = n.Attribute.FirstOrDefault(a => a.Name == "strides")?.Ints.Select(i => (int)i).ToArray() ?? [1, 1];
            int[] pd = n.Attribute.FirstOrDefault(a => a.Name == "pads")?.Ints.Select(i => (int)i).ToArray() ?? [0, 0, 0, 0];
            int[] dl = n.Attribute.FirstOrDefault(a => a.Name == "dilations")?.Ints.Select(i => (int)i).ToArray() ?? [1, 1];
            int oh = (H + pd[0] + pd[2] - dl[0] * (ks[0] - 1) - 1) / st[0] + 1, ow = (W + pd[1] + pd[3] - dl[1] * (ks[1] - 1) - 1) / st[1] + 1;
            long good = 0;
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                {
                    bool dirty = false;
                    for (int ky = 0; ky < ks[0] && !dirty; ky++)
                        for (int kx = 0; kx < ks[1]; kx++)
                        {
                            int iy = oy * st[0] - pd[0] + ky * dl[0], ix = ox * st[1] - pd[1] + kx * dl[1];
                            if (iy < 0 || ix < 0 || iy >= H || ix >= W) continue;
                            if (changed[iy * W + ix]) { dirty = true; break; }
                        }
                    if (!dirty) good++;
                }
            var (c0, cnt, px) = clean.GetValueOrDefault(key);
            clean[key] = (c0 + (double)good / (oh * ow), cnt + 1, (long)oh * ow);
        }
        prevBits[key] = bits;
    }
});
foreach (var n in convs)
    if (clean.TryGetValue(n.Name, out var c))
        Console.WriteLine($"{c.Clean / c.Count * 100,6:F1} % clean  {c.Pixels,7} px  {n.OpType,-18} {n.Name}");
return 0;
