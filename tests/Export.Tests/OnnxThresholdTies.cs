using System.Runtime.InteropServices;
using BiVM.Contracts;
using Google.Protobuf;
using Onnx;
using Xunit.Abstractions;

namespace BiVM.Export.Tests;

/// <summary>
/// <see cref="ThresholdTies"/> for an ONNX file whose network is gone (the shipped models): runs the file over the
/// frames with every binary conv's input exposed, and moves each threshold τ that has an activation within δ = 2e-6
/// of the layer's largest |x| into the middle of the nearest gap between its channel's activations wider than 2δ. Two files that differ by float rounding upstream of
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
    /// A copy of <paramref name="model"/> with its ties separated on <paramref name="frames"/>: each τ with an
    /// activation within δ moves to the middle of the nearest gap between its channel's activations that is wider
    /// than 2δ (a trained network's channels are dense: the gap right at τ is often narrower). Reports how many
    /// thresholds moved, and how many channels had no such gap at all (left as they are).
    /// </summary>
    /// <param name="relativeDelta">δ as a fraction of the layer's largest |x|: <see cref="ThresholdTies.RelativeRounding"/> for two
    /// files that differ only in rounding order; larger where a difference carried over frames by the recurrent state grows.</param>
    public static (ModelProto Model, int Moved, int Unseparable) Separate(ModelProto model, IReadOnlyList<float[]> frames, int[] shape, float ratio,
        ITestOutputHelper log, double relativeDelta = ThresholdTies.RelativeRounding)
    {
        // A τ moved past some activations changes those signs, so the layers after it see new values, maybe new
        // ties: again until a round finds none.
        const int rounds = 8;
        int moved = 0, unseparable = 0;
        for (int round = 0; round < rounds; round++)
        {
            var (next, movedNow, unseparableNow) = SeparateOnce(model, frames, shape, ratio, log, relativeDelta);
            if (movedNow == 0) return (model, moved, unseparableNow);
            (model, moved, unseparable) = (next, moved + movedNow, unseparableNow);
        }
        throw new InvalidOperationException($"ties still found after {rounds} rounds of moving thresholds ({moved} moved)");
    }

    private static (ModelProto Model, int Moved, int Unseparable) SeparateOnce(ModelProto model, IReadOnlyList<float[]> frames, int[] shape, float ratio,
        ITestOutputHelper log, double relativeDelta)
    {
        var convs = BinaryConvs(model);
        var values = new Dictionary<string, (List<float>[] Channels, double Delta)>();
        using (var ort = new OrtMatting(Exposing(model, convs.Select(c => c.X)).ToByteArray()))
            foreach (var frame in frames)
            {
                var result = ort.Step(frame, shape, ratio);
                foreach (var (x, tauName, _) in convs)
                {
                    var data = result[x];
                    int channels = result.Shapes[x][1];
                    long plane = data.Length / (result.Shapes[x][0] * channels);
                    if (!values.TryGetValue(tauName, out var seen))
                        seen = (Enumerable.Range(0, channels).Select(_ => new List<float>()).ToArray(), 0);
                    double largest = 0;
                    for (long i = 0; i < data.Length; i++)
                    {
                        largest = Math.Max(largest, Math.Abs(data[i]));
                        if (data[i] != 0) seen.Channels[i / plane % channels].Add(data[i]);
                    }
                    values[tauName] = (seen.Channels, Math.Max(seen.Delta, relativeDelta * largest));
                }
            }
        var separated = model.Clone();
        int moved = 0, unseparable = 0, crossed = 0;
        double farthest = 0;
        foreach (var tensor in separated.Graph.Initializer.Where(t => values.ContainsKey(t.Name)))
        {
            var (channels, delta) = values[tensor.Name];
            var tau = Floats(tensor);
            for (int c = 0; c < tau.Length; c++)
            {
                var v = channels[c].Distinct().Order().ToArray();
                if (v.Length == 0 || v.All(a => Math.Abs(a - (double)tau[c]) > delta)) continue;
                // τ's own gap (between the largest value below it and the smallest at or above it), if wider than
                // 2δ: its middle changes no sign. Else the nearest of: below the smallest, above the largest, the
                // middle of any gap wider than 2δ (a cluster of values around τ: some signs change).
                int above = Array.FindIndex(v, a => a >= tau[c]);
                double low = above switch { 0 => double.NegativeInfinity, < 0 => v[^1], _ => v[above - 1] };
                double high = above < 0 ? double.PositiveInfinity : v[above];
                if (high - low > 2 * delta)
                {
                    double middle = double.IsNegativeInfinity(low) ? high - 2 * delta : double.IsPositiveInfinity(high) ? low + 2 * delta : (low + high) / 2;
                    farthest = Math.Max(farthest, Math.Abs(middle - tau[c]));
                    tau[c] = (float)middle;
                    moved++;
                    continue;
                }
                crossed++;
                double best = double.NaN;
                void Consider(double candidate)
                {
                    if (double.IsNaN(best) || Math.Abs(candidate - tau[c]) < Math.Abs(best - tau[c])) best = candidate;
                }
                Consider(v[0] - 2 * delta);
                Consider(v[^1] + 2 * delta);
                for (int i = 0; i + 1 < v.Length; i++)
                    if (v[i + 1] - (double)v[i] > 2 * delta) Consider((v[i] + (double)v[i + 1]) / 2);
                if (v.Any(a => Math.Abs(a - (double)(float)best) <= delta)) { unseparable++; continue; }
                farthest = Math.Max(farthest, Math.Abs(best - tau[c]));
                tau[c] = (float)best;
                moved++;
            }
            tensor.FloatData.Clear();
            tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(tau.AsSpan()));
        }
        log.WriteLine($"  ties (δ = {relativeDelta:G} of each layer's largest |x|): {moved} threshold(s) moved into a gap wider than 2δ (by at most {farthest:E2}), "
            + $"{crossed} of them past a cluster of values (signs changed), {unseparable} channel(s) without such a gap");
        return (separated, moved, unseparable);
    }

    private static float[] Floats(TensorProto t) =>
        t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray() : t.FloatData.ToArray();
}
