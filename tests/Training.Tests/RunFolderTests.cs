using BiVM.Tests.Shared;

namespace BiVM.Training.Tests;

/// <summary>The metadata's training seed and steps come from the run folder `bivm train` writes around the weights.</summary>
public sealed class RunFolderTests
{
    [Fact]
    public void Provenance_reads_data_seed_and_steps_from_the_run_folder()
    {
        using var folder = new TempFolder("bivm-run-");
        var run = new RunFolder(folder.Path);
        run.WriteConfig(new TrainingConfig { DataSeed = 77, Stages = [new StageConfig { Steps = 5 }, new StageConfig { Steps = 7 }] });
        Directory.CreateDirectory(run.CheckpointDirectory);
        File.WriteAllText(Path.Combine(run.CheckpointDirectory, "state.json"), new TrainingState(9, 1.5).ToJson());

        Assert.True(run.HasCheckpoint);
        Assert.Equal((77L, 9L), RunFolder.Provenance(Path.Combine(run.CheckpointDirectory, "model.bin")));
        Assert.Equal((77L, 12L), RunFolder.Provenance(run.FinalWeights));
        using var elsewhere = new TempFolder("bivm-weights-");
        Assert.Equal(((long?)null, (long?)null), RunFolder.Provenance(elsewhere.File("model.bin")));
    }
}
