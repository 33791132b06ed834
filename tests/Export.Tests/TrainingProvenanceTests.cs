using BiVM.Model.Training;

namespace BiVM.Export.Tests;

/// <summary>The metadata's training seed and steps come from the run folder `bivm train` writes around the weights.</summary>
public sealed class TrainingProvenanceTests
{
    [Fact]
    public void Reads_data_seed_and_steps_from_the_run_folder()
    {
        var run = Directory.CreateTempSubdirectory("bivm-run-").FullName;
        var config = new TrainingConfig { DataSeed = 77, Stages = [new StageConfig { Steps = 5 }, new StageConfig { Steps = 7 }] };
        File.WriteAllText(Path.Combine(run, "config.json"), config.ToJson());
        Directory.CreateDirectory(Path.Combine(run, "checkpoint"));
        File.WriteAllText(Path.Combine(run, "checkpoint", "state.json"), new TrainingState(9, 1.5).ToJson());

        Assert.Equal((77L, 9L), TrainingProvenance.Find(Path.Combine(run, "checkpoint", "model.bin")));
        Assert.Equal((77L, 12L), TrainingProvenance.Find(Path.Combine(run, "final", "model.bin")));
        var elsewhere = Directory.CreateTempSubdirectory("bivm-weights-").FullName;
        Assert.Equal(((long?)null, (long?)null), TrainingProvenance.Find(Path.Combine(elsewhere, "model.bin")));
    }
}
