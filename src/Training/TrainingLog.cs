using System.Globalization;

namespace BiVM.Training;

/// <summary>
/// The run's losses.csv: one row per optimizer step. On resume the rows after the checkpoint's step are
/// dropped, so the log always describes exactly the weights that exist.
/// </summary>
public sealed class TrainingLog
{
    public static readonly string[] Columns =
        ["step", "stage", "total", "pha_l1", "pha_laplacian", "pha_coherence", "fgr_l1", "fgr_coherence", "ebb", "lbm", "teacher_pha", "grad_norm", "lr_scale", "binarization", "seconds"];

    private readonly RunFolder _run;

    public TrainingLog(RunFolder run, int keepSteps)
    {
        _run = run;
        Directory.CreateDirectory(run.Root);
        var kept = new List<string> { string.Join(',', Columns) };
        if (File.Exists(run.LossesPath))
            kept.AddRange(File.ReadLines(run.LossesPath).Skip(1).Where(line => int.TryParse(line.Split(',')[0], CultureInfo.InvariantCulture, out int step) && step <= keepSteps));
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
