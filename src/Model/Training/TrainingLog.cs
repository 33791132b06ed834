using System.Globalization;

namespace BiVM.Model.Training;

/// <summary>
/// losses.csv: one row per optimizer step. On resume the rows after the checkpoint's step are
/// dropped, so the log always describes exactly the weights that exist.
/// </summary>
public sealed class TrainingLog
{
    public static readonly string[] Columns =
        ["step", "stage", "total", "pha_l1", "pha_laplacian", "pha_coherence", "fgr_l1", "fgr_coherence", "ebb", "lbm", "grad_norm", "lr_scale", "seconds"];

    private readonly string _path;

    public TrainingLog(string path, int keepSteps)
    {
        _path = path;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var kept = new List<string> { string.Join(',', Columns) };
        if (File.Exists(path))
            kept.AddRange(File.ReadLines(path).Skip(1).Where(line => int.TryParse(line.Split(',')[0], CultureInfo.InvariantCulture, out int step) && step <= keepSteps));
        string temp = path + ".tmp";
        File.WriteAllLines(temp, kept);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Events that are not steps (recoveries) go to events.log next to the CSV.</summary>
    public void Note(string message) =>
        File.AppendAllText(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(_path))!, "events.log"), $"{DateTime.UtcNow:O} {message}\n");

    public void Append(StepReport report)
    {
        string Value(string key) => report.Losses.TryGetValue(key, out double v) ? v.ToString("G6", CultureInfo.InvariantCulture) : "";
        var row = new[] { report.Step.ToString(CultureInfo.InvariantCulture), report.Stage }
            .Concat(Columns.Skip(2).SkipLast(1).Select(Value))
            .Append(report.Seconds.ToString("F2", CultureInfo.InvariantCulture));
        File.AppendAllText(_path, string.Join(',', row) + "\n");
    }
}
