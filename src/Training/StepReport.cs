namespace BiVM.Training;

/// <summary>What one optimizer step did: its 1-based global number, the loss terms and the elapsed time.</summary>
public sealed record StepReport(int Step, int TotalSteps, string Stage, IReadOnlyDictionary<string, double> Losses, double Seconds)
{
    public double Total => Losses["total"];
}
