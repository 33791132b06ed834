using System.Globalization;
using System.Text;
using System.Text.Json;
using BiVM.Data.Synthesis;

namespace BiVM.Data.Metrics;

/// <summary>
/// Collects per-frame metric values by (row, clip) and summarises them as RVM's evaluation sheet
/// does: for each frame index, the mean over clips that have that frame; then the mean over frame
/// indices. NaN values (fgr metrics on frames without foreground) are left out of both means.
/// Rows are typically models; columns are metrics in <see cref="Names"/> order.
/// </summary>
public sealed class MetricsTable
{
    /// <summary>RVM's LR metric names, in its default order.</summary>
    public static IReadOnlyList<string> Names { get; } = ["pha_mad", "pha_mse", "pha_grad", "pha_conn", "pha_dtssd", "fgr_mad", "fgr_mse"];

    private readonly Dictionary<string, Dictionary<string, List<double[]>>> _values = new(StringComparer.Ordinal);
    private readonly List<string> _rows = [];
    private readonly HashSet<(string Row, string Clip)> _clips = [];

    public IReadOnlyList<string> Rows => _rows;

    /// <summary>Adds one clip's per-frame values for a metric.</summary>
    public void Add(string row, string clip, string metric, IReadOnlyList<double> perFrame)
    {
        if (!Names.Contains(metric)) throw new ArgumentException($"Unknown metric '{metric}'; known: {string.Join(", ", Names)}.", nameof(metric));
        if (!_values.TryGetValue(row, out var byMetric))
        {
            _values[row] = byMetric = new Dictionary<string, List<double[]>>(StringComparer.Ordinal);
            _rows.Add(row);
        }
        if (!byMetric.TryGetValue(metric, out var clips)) byMetric[metric] = clips = [];
        clips.Add(perFrame.ToArray());
        _clips.Add((row, clip));
    }

    /// <summary>
    /// Scores a predicted clip against the ground truth and adds all metrics it can: alpha metrics
    /// always, fgr metrics when both have a foreground. Grad min-max normalises (the LR script);
    /// values are scored at 8 bits like RVM's PNGs unless <paramref name="eightBit"/> is false.
    /// </summary>
    public void AddClip(string row, string clip, Clip truth, float[] predPha, float[]? predFgr = null, bool eightBit = true)
    {
        foreach (var (metric, values) in ClipScores.Compute(truth, predPha, predFgr, eightBit)) Add(row, clip, metric, values);
    }

    public int ClipCount(string row) => _clips.Count(c => c.Row == row);

    /// <summary>RVM's summary value; NaN when the row has no values for the metric.</summary>
    public double Summary(string row, string metric)
    {
        if (!_values.TryGetValue(row, out var byMetric) || !byMetric.TryGetValue(metric, out var clips)) return double.NaN;
        int frames = clips.Max(c => c.Length);
        double total = 0;
        int indices = 0;
        for (int t = 0; t < frames; t++)
        {
            double sum = 0;
            int count = 0;
            foreach (var c in clips)
            {
                if (t >= c.Length || double.IsNaN(c[t])) continue;
                sum += c[t];
                count++;
            }
            if (count == 0) continue;
            total += sum / count;
            indices++;
        }
        return indices == 0 ? double.NaN : total / indices;
    }

    /// <summary>Metrics that at least one row has, in <see cref="Names"/> order.</summary>
    public IReadOnlyList<string> Columns => Names.Where(m => _values.Values.Any(v => v.ContainsKey(m))).ToArray();

    /// <summary>A fixed-width text table, one row per model.</summary>
    public string Format()
    {
        var columns = Columns;
        int first = Math.Max("model".Length, _rows.Count == 0 ? 0 : _rows.Max(r => r.Length));
        var sb = new StringBuilder();
        sb.Append("model".PadRight(first));
        foreach (var c in columns) sb.Append("  ").Append(c.PadLeft(10));
        sb.Append("  clips").AppendLine();
        foreach (var row in _rows)
        {
            sb.Append(row.PadRight(first));
            foreach (var c in columns) sb.Append("  ").Append(FormatNumber(Summary(row, c)).PadLeft(10));
            sb.Append("  ").Append(ClipCount(row).ToString(CultureInfo.InvariantCulture).PadLeft(5)).AppendLine();
        }
        return sb.ToString();
    }

    public string ToCsv()
    {
        var columns = Columns;
        var sb = new StringBuilder();
        sb.Append("model,").Append(string.Join(',', columns)).AppendLine(",clips");
        foreach (var row in _rows)
        {
            sb.Append(Csv(row));
            foreach (var c in columns) sb.Append(',').Append(Summary(row, c).ToString("R", CultureInfo.InvariantCulture));
            sb.Append(',').Append(ClipCount(row).ToString(CultureInfo.InvariantCulture)).AppendLine();
        }
        return sb.ToString();
    }

    /// <summary>{"rows": [{"model": …, "clips": n, "metrics": {"pha_mad": …}}]}; NaN is written as null.</summary>
    public string ToJson()
    {
        var rows = _rows.Select(row => new Dictionary<string, object?>
        {
            ["model"] = row,
            ["clips"] = ClipCount(row),
            ["metrics"] = Columns.ToDictionary(c => c, c => { double v = Summary(row, c); return double.IsNaN(v) ? (double?)null : v; }),
        }).ToArray();
        return JsonSerializer.Serialize(new Dictionary<string, object> { ["rows"] = rows }, new JsonSerializerOptions { WriteIndented = true });
    }

    public void WriteCsv(string path) => WriteAtomically(path, ToCsv());

    public void WriteJson(string path) => WriteAtomically(path, ToJson());

    private static void WriteAtomically(string path, string text)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        string temp = path + ".tmp";
        File.WriteAllText(temp, text);
        File.Move(temp, path, overwrite: true);
    }

    private static string FormatNumber(double v) => double.IsNaN(v) ? "n/a" : v.ToString("F3", CultureInfo.InvariantCulture);

    private static string Csv(string s) => s.IndexOfAny([',', '"', '\n']) < 0 ? s : "\"" + s.Replace("\"", "\"\"") + "\"";
}
