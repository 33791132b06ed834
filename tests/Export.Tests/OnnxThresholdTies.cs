using System.Runtime.InteropServices;
using BiVM.Contracts;
using Google.Protobuf;
using Onnx;
using Xunit.Abstractions;

namespace BiVM.Export.Tests;

/// <summary>
/// <see cref="ThresholdTies"/> for an ONNX file whose network is gone (the shipped models): runs the file over the
/// frames with every binary conv's input exposed, and moves each threshold τ that has an activation within δ = 2e-6
/// of the layer's largest |x| into the middle of its channel's gap (between the largest activation below τ and the
/// smallest at or above it), where that gap is wider than 2δ. Two files that differ by float rounding upstream of
/// a binary conv (the folded InstanceNormalization) then take the same signs, so their binary conv outputs can be
/// compared bit for bit. Exact zeros are left out (they come from exact sources: the first frame's zero state, padding).
/// </summary>
internal static class OnnxThresholdTies
{
    /// <summary>The binary convs of the main graph: (X, tau initializer, output).</summary>
    public static List<(string X, string Tau, string Output)> BinaryConvs(ModelProto model) =>
        model.Graph.Node.Where(n => n.Domain == BinaryConvSchema.Domain && n.OpType is BinaryConvSchema.BinaryConv2d or BinaryConvSchema.SparseBinaryConv2d)
            .Select(n => (n.Input[BinaryConvSchema.InputX], n.Input[BinaryConvSchema.InputTau], n.Output[0])).ToList();

    /// <summary>A copy with <paramref name="names"/> added as float graph outputs (no shape: ORT takes the runtime one).</summary>
    public static ModelProto Exposing(ModelProto model, IEnumerable<string> names)
    {
        var copy = model.Clone();
        foreach (var stale in copy.MetadataProps.Where(m => m.Key == ModelChecksum.Key).ToList()) copy.MetadataProps.Remove(stale);
        var present = copy.Graph.Output.Select(o => o.Name).ToHashSet();
        foreach (var name in names.Distinct().Where(present.Add))
            copy.Graph.Output.Add(new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });
        return copy;
    }

    /// <summary>
    /// A copy of <paramref name="model"/> with its ties separated on <paramref name="frames"/>; reports how many
    /// thresholds moved and how many channels have a cluster of values within 2δ on both sides (not separable).
    /// </summary>
    public static (ModelProto Model, int Moved, int Clusters) Separate(ModelProto model, IReadOnlyList<float[]> frames, int[] shape, float ratio, ITestOutputHelper log)
    {
        var convs = BinaryConvs(model);
        var initializers = model.Graph.Initializer.ToDictionary(t => t.Name);
        var gaps = new Dictionary<string, (double[] Below, double[] Above, double Delta)>();
        using (var ort = new OrtMatting(Exposing(model, convs.Select(c => c.X)).ToByteArray()))
            foreach (var frame in frames)
            {
                var result = ort.Step(frame, shape, ratio);
                foreach (var (x, tauName, _) in convs)
                {
                    var tau = Floats(initializers[tauName]);
                    var values = result[x];
                    int channels = result.Shapes[x][1];
                    long plane = values.Length / (result.Shapes[x][0] * channels);
                    if (!gaps.TryGetValue(tauName, out var gap))
                        gap = (Enumerable.Repeat(double.NegativeInfinity, channels).ToArray(), Enumerable.Repeat(double.PositiveInfinity, channels).ToArray(), 0);
                    double largest = 0;
                    for (long i = 0; i < values.Length; i++)
                    {
                        float v = values[i];
                        largest = Math.Max(largest, Math.Abs(v));
                        if (v == 0) continue;
                        int c = (int)(i / plane % channels);
                        if (v < tau[c]) gap.Below[c] = Math.Max(gap.Below[c], v);
                        else gap.Above[c] = Math.Min(gap.Above[c], v);
                    }
                    gaps[tauName] = (gap.Below, gap.Above, Math.Max(gap.Delta, ThresholdTies.RelativeRounding * largest));
                }
            }
        var separated = model.Clone();
        int moved = 0, clusters = 0;
        foreach (var tensor in separated.Graph.Initializer.Where(t => gaps.ContainsKey(t.Name)))
        {
            var (below, above, delta) = gaps[tensor.Name];
            var tau = Floats(tensor);
            for (int c = 0; c < tau.Length; c++)
            {
                if (Math.Min(tau[c] - below[c], above[c] - tau[c]) > delta) continue;
                if (above[c] - below[c] <= 2 * delta) { clusters++; continue; }
                tau[c] = double.IsNegativeInfinity(below[c]) ? (float)(above[c] - 2 * delta)
                    : double.IsPositiveInfinity(above[c]) ? (float)(below[c] + 2 * delta)
                    : (float)((below[c] + above[c]) / 2);
                moved++;
            }
            tensor.FloatData.Clear();
            tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(tau.AsSpan()));
        }
        log.WriteLine($"  ties: {moved} threshold(s) moved into their gaps, {clusters} channel(s) with a cluster of values around tau");
        return (separated, moved, clusters);
    }

    private static float[] Floats(TensorProto t) =>
        t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray() : t.FloatData.ToArray();
}
