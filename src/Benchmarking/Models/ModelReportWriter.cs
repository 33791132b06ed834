using System.Globalization;
using System.Text;
using System.Text.Json;

namespace BiVM.Benchmarking.Models;

/// <summary>The text (markdown) and JSON forms of a <see cref="ModelReport"/>.</summary>
public static class ModelReportWriter
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <summary>
    /// <c>{"results":[{"model":"bivm","width":512,"height":288,"downsample":1.0,"threads":2,"ms":12.3, …}, …]}</c>:
    /// one entry per model, size and thread count; the further fields are those of <see cref="ModelResult"/> in camelCase.
    /// </summary>
    public static string ToJson(ModelReport report)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartArray("results");
            foreach (var r in report.Results)
            {
                w.WriteStartObject();
                w.WriteString("model", r.Model);
                w.WriteNumber("width", r.Width);
                w.WriteNumber("height", r.Height);
                w.WritePropertyName("downsample");
                w.WriteRawValue(r.Downsample.ToString("0.0##", C)); // 1.0, not 1: the documented form
                w.WriteNumber("threads", r.Threads);
                w.WriteNumber("ms", Math.Round(r.Ms, 3));
                w.WriteNumber("minMs", Math.Round(r.MinMs, 3));
                w.WriteNumber("fps", Math.Round(r.Fps, 2));
                if (r.RatioToRvm is { } ratio) w.WriteNumber("ratioToRvm", Math.Round(ratio, 3));
                else w.WriteNull("ratioToRvm");
                w.WriteNumber("allocatedBytesPerFrame", r.AllocatedBytesPerFrame);
                w.WriteNumber("modelFileBytes", r.ModelFileBytes);
                w.WriteString("kernel", r.Kernel);
                w.WriteNumber("frames", r.Frames);
                w.WriteNumber("warmupFrames", r.WarmupFrames);
                w.WriteString("source", r.Source);
                if (r.CpuMs is { } cpu) w.WriteNumber("cpuMs", Math.Round(cpu, 3));
                if (r.CpuRatioToRvm is { } cpuRatio) w.WriteNumber("cpuRatioToRvm", Math.Round(cpuRatio, 3));
                if (r.RatioToFastestRvm is { } fastest) w.WriteNumber("ratioToFastestRvm", Math.Round(fastest, 3));
                if (r.Profile is { } profile)
                {
                    w.WriteStartArray("profile");
                    foreach (var op in profile)
                    {
                        w.WriteStartObject();
                        w.WriteString("opType", op.OpType);
                        w.WriteNumber("nodes", op.Nodes);
                        w.WriteNumber("msPerFrame", Math.Round(op.MsPerFrame, 3));
                        w.WriteNumber("share", Math.Round(op.Share, 4));
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + Environment.NewLine;
    }

    /// <summary>Reads what <see cref="ToJson"/> wrote (the machine line is not in the JSON and stays empty).</summary>
    /// <exception cref="JsonException">Not that JSON.</exception>
    public static ModelReport FromJson(string json)
    {
        using var doc = JsonDocument.Parse(json);
        if (!doc.RootElement.TryGetProperty("results", out var results) || results.ValueKind != JsonValueKind.Array)
            throw new JsonException("no \"results\" array");
        static double? Optional(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
        var list = new List<ModelResult>();
        try
        {
            foreach (var r in results.EnumerateArray())
            {
                List<OpTime>? profile = r.TryGetProperty("profile", out var p)
                    ? [.. p.EnumerateArray().Select(o => new OpTime(o.GetProperty("opType").GetString()!, o.GetProperty("nodes").GetInt32(), o.GetProperty("msPerFrame").GetDouble(), o.GetProperty("share").GetDouble()))]
                    : null;
                list.Add(new ModelResult(r.GetProperty("model").GetString()!, r.GetProperty("width").GetInt32(), r.GetProperty("height").GetInt32(),
                    r.GetProperty("downsample").GetSingle(), r.GetProperty("threads").GetInt32(), r.GetProperty("ms").GetDouble(),
                    r.GetProperty("minMs").GetDouble(), r.GetProperty("fps").GetDouble(), Optional(r, "ratioToRvm"),
                    r.GetProperty("allocatedBytesPerFrame").GetInt64(), r.GetProperty("modelFileBytes").GetInt64(), r.GetProperty("kernel").GetString()!,
                    r.GetProperty("frames").GetInt32(), profile, Optional(r, "cpuMs"), Optional(r, "cpuRatioToRvm"), Optional(r, "ratioToFastestRvm"),
                    r.TryGetProperty("warmupFrames", out var warm) && warm.ValueKind == JsonValueKind.Number ? warm.GetInt32() : 0,
                    r.TryGetProperty("source", out var source) && source.ValueKind == JsonValueKind.String ? source.GetString()! : ModelBench.TestCardSource));
            }
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new JsonException($"a result lacks a field or has the wrong type: {e.Message}", e);
        }
        return new ModelReport("", list);
    }

    /// <summary>A markdown table (the README quotes it), then with --profile one table per model, size and thread count.</summary>
    public static string ToText(ModelReport report, int profileRows = 12)
    {
        var sb = new StringBuilder();
        if (report.Machine.Length > 0)
        {
            sb.AppendLine($"machine: {report.Machine}");
            sb.AppendLine();
        }
        sb.AppendLine("Whole models per frame (recurrent state carried; each model warmed up until the JIT had compiled nothing for half a second;");
        sb.AppendLine("ms = median wall time of the timed frames, models taking turns in blocks of frames,");
        sb.AppendLine("round after round, each block on more than one thread after a pause in which ONNX Runtime's idle workers stop spinning;");
        sb.AppendLine("CPU ms = median CPU time of the calling thread, 1 thread only: on a loaded machine the estimate of the undisturbed time;");
        sb.AppendLine("fastest RVM = rvm or rvm-pipelined, whichever ran faster: the baseline for a pipelined model):");
        foreach (string source in report.Results.Select(r => r.Source).Distinct())
            sb.AppendLine(source == ModelBench.TestCardSource ? "frames: the test card (one smooth picture, every frame)" : $"frames: {source}");
        sb.AppendLine();
        sb.AppendLine("| model | frame | downsample | threads | ms per frame | fps | RVM ms / model ms | fastest RVM ms / model ms | CPU ms | RVM / model on CPU ms | allocated KiB per frame | model file MB | kernel | warm-up frames |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|");
        static string Ratio(double? x) => x is { } v ? v.ToString("F2", C) + "×" : "n/a";
        foreach (var r in report.Results)
            sb.AppendLine(string.Format(C, "| {0} | {1}×{2} | {3} | {4} | {5:F1} | {6:F1} | {7} | {8} | {9} | {10} | {11:F0} | {12:F2} | {13} | {14} |",
                r.Model, r.Width, r.Height, r.Downsample, r.Threads, r.Ms, r.Fps, Ratio(r.RatioToRvm), Ratio(r.RatioToFastestRvm),
                r.CpuMs is { } cpu ? cpu.ToString("F1", C) : "n/a", Ratio(r.CpuRatioToRvm),
                r.AllocatedBytesPerFrame / 1024.0, r.ModelFileBytes / 1e6, r.Kernel, r.WarmupFrames));
        foreach (var r in report.Results.Where(r => r.Profile is not null))
        {
            sb.AppendLine();
            sb.AppendLine(string.Format(C, "Profile of {0} at {1}×{2}, downsample {3}, {4} thread(s) (ONNX Runtime's kernel time per op type, per frame; profiling adds time):",
                r.Model, r.Width, r.Height, r.Downsample, r.Threads));
            sb.AppendLine();
            sb.AppendLine("| op type | nodes | ms per frame | share |");
            sb.AppendLine("|---|---:|---:|---:|");
            var ops = r.Profile!;
            foreach (var op in ops.Take(profileRows))
                sb.AppendLine(string.Format(C, "| {0} | {1} | {2:F2} | {3:P1} |", op.OpType, op.Nodes, op.MsPerFrame, op.Share));
            if (ops.Count > profileRows)
                sb.AppendLine(string.Format(C, "| {0} other op types | {1} | {2:F2} | {3:P1} |", ops.Count - profileRows,
                    ops.Skip(profileRows).Sum(o => o.Nodes), ops.Skip(profileRows).Sum(o => o.MsPerFrame), ops.Skip(profileRows).Sum(o => o.Share)));
            sb.AppendLine(string.Format(C, "| total | {0} | {1:F2} | |", ops.Sum(o => o.Nodes), ops.Sum(o => o.MsPerFrame)));
        }
        return sb.ToString();
    }
}
