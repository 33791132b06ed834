using BiVM.Model.Training;

namespace BiVM.Export;

/// <summary>
/// The training facts for the metadata, read from the run folder that `bivm train` writes around the weights:
/// RUN/config.json (data seed, total steps) and, for RUN/checkpoint/model.bin, RUN/checkpoint/state.json (steps
/// done). Weights outside a run folder give nothing; the caller's explicit values always win.
/// </summary>
public static class TrainingProvenance
{
    public static (long? DataSeed, long? Steps) Find(string weightsPath)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(weightsPath))!;
        var run = Path.GetDirectoryName(folder);
        if (run is null) return (null, null);
        var configPath = Path.Combine(run, "config.json");
        if (!File.Exists(configPath)) return (null, null);
        var config = TrainingConfig.Load(configPath);
        long? steps = Path.GetFileName(folder) switch
        {
            "final" => config.TotalSteps,
            "checkpoint" when File.Exists(Path.Combine(folder, "state.json")) =>
                TrainingState.FromJson(File.ReadAllText(Path.Combine(folder, "state.json"))).StepsDone,
            _ => null,
        };
        return (config.DataSeed, steps);
    }
}
