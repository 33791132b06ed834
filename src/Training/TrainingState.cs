using System.Text.Json;

namespace BiVM.Training;

/// <summary>Where a run stands: the number of optimizer steps done, over all stages.</summary>
public sealed record TrainingState(int StepsDone, double Seconds)
{
    public string ToJson() => JsonSerializer.Serialize(this);

    public static TrainingState FromJson(string json) =>
        JsonSerializer.Deserialize<TrainingState>(json) ?? throw new InvalidDataException("empty training state");

    /// <summary>The stage a global step belongs to, and the step's index within it.</summary>
    public static (int Stage, int StepInStage) Locate(TrainingConfig config, int step)
    {
        for (int s = 0; s < config.Stages.Count; s++)
        {
            if (step < config.Stages[s].Steps) return (s, step);
            step -= config.Stages[s].Steps;
        }
        return (config.Stages.Count, 0);
    }
}
