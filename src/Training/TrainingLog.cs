using System.Globalization;

namespace BiVM.Training;

/// <summary>
/// The run's losses.csv: one row per optimizer step. On resume the rows after the checkpoint's step are
/// dropped, so the log always describes exactly the weights that exist, and the kept rows are rewritten under the
/// current columns (a run started before a column existed gets it empty in its earlier rows, instead of rows whose
/// values sit under the wrong names).
/// </summary>
public sealed class TrainingLog
{
    public static readonly string[] Columns =
        ["step", "stage", "total", "pha_l1", "pha_laplacian", "pha_coherence", "fgr_l1", "fgr_coherence", "ebb", "lbm", "pairwise", "teacher_pha", "grad_norm", "lr_scale", "binarization", "seconds"];

    private readonly RunFolder _run;

    public TrainingLog(RunFolder run, int keepSteps)
    {
        _run = run;
        Directory.CreateDirectory(run.Root);
        var kept = new List<string> { string.Join(',', Columns) };
        if (File.Exists(run.LossesPath))
        {
            var lines = File.ReadLines(run.LossesPath).ToList();
            var written = lines.Count > 0 ? lines[0].Split(',') : [];
            foreach (var line in lines.Skip(1))
            {
                var values = line.Split(',');
                if (!int.TryParse(values[0], CultureInfo.InvariantCulture, out int step) || step > keepSteps) continue;
                var byName = written.Zip(values).ToDictionary(p => p.First, p => p.Second);
                kept.Add(string.Join(',', Columns.Select(c => byName.GetValueOrDefault(c, ""))));
            }
        }
        string temp = run.LossesPath + ".tmp";
        File.WriteAllLines(temp, kept);
        File.Move(temp, run.LossesPath, overwrite: true);
    }

    /// <summary>Events that are not steps (initialisation, calibration, recoveries) go to the run's events.log.</summary>
    public void Note(string message) => File.AppendAllText(_run.EventsPath, $"{DateTime.UtcNow:O} {message}\n");

    public void Append(StepReport report)
    {
        string Value(string key) => report.Losses.TryGetValue(key, out double v) ? v.ToString("G6", CultureInfo.InvariantCulture) : "";
        var row = new[] { report.Step.ToString(CultureInfo.InvariantCulture), report.Stage }
            .Concat(Columns.Skip(2).SkipLast(1).Select(Value))
            .Append(report.Seconds.ToString("F2", CultureInfo.InvariantCulture));
        File.AppendAllText(_run.LossesPath, string.Join(',', row) + "\n");
    }
}
