using System.Text.Json;

namespace BiVM.Benchmarking.Models;

/// <summary>
/// Reads ONNX Runtime's profiling JSON (SessionOptions.EnableProfiling): an array of trace events, one
/// <c>"cat": "Node"</c> event named <c>"&lt;node&gt;_kernel_time"</c> per node per run, with its duration in
/// microseconds (<c>"dur"</c>) and its op type in <c>"args": {"op_name": …}</c>.
/// </summary>
public static class OrtProfile
{
    /// <summary>Kernel time per op type per frame, largest first, over a profile of <paramref name="frames"/> runs.</summary>
    public static IReadOnlyList<OpTime> ByOpType(string json, int frames)
    {
        if (frames <= 0) throw new ArgumentOutOfRangeException(nameof(frames), frames, "need at least one profiled frame");
        using var doc = JsonDocument.Parse(json);
        var micros = new Dictionary<string, double>();
        var nodes = new Dictionary<string, HashSet<string>>();
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            if (!e.TryGetProperty("cat", out var cat) || cat.GetString() != "Node") continue;
            string name = e.GetProperty("name").GetString() ?? "";
            if (!name.EndsWith("_kernel_time", StringComparison.Ordinal)) continue;
            string op = e.TryGetProperty("args", out var args) && args.TryGetProperty("op_name", out var o) ? o.GetString() ?? "?" : "?";
            micros[op] = micros.GetValueOrDefault(op) + e.GetProperty("dur").GetDouble();
            if (!nodes.TryGetValue(op, out var set)) nodes[op] = set = [];
            set.Add(name);
        }
        double total = micros.Values.Sum();
        return micros.OrderByDescending(kv => kv.Value)
            .Select(kv => new OpTime(kv.Key, nodes[kv.Key].Count, kv.Value / 1000 / frames, total > 0 ? kv.Value / total : 0))
            .ToList();
    }
}
