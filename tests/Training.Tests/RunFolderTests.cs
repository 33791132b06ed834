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

    /// <summary>
    /// The states a kill can leave between Save's two renames (checkpoint/ → checkpoint.old/, checkpoint.tmp/ →
    /// checkpoint/): resume takes the newest complete folder (state.json is written last) and leaves a complete
    /// checkpoint/ alone.
    /// </summary>
    [Theory]
    [InlineData(true, true, 4)]     // both complete: the new one
    [InlineData(false, true, 3)]    // the new one incomplete (no state.json): the old one
    [InlineData(true, false, 4)]    // killed after the old one was deleted, before the last rename
    public void A_checkpoint_swap_interrupted_by_a_kill_is_completed_from_the_newest_complete_folder(bool newComplete, bool oldExists, int expected)
    {
        using var folder = new TempFolder("bivm-run-");
        var run = new RunFolder(folder.Path);
        string temp = run.CheckpointDirectory + ".tmp", old = run.CheckpointDirectory + ".old";
        Directory.CreateDirectory(temp);
        if (newComplete) File.WriteAllText(Path.Combine(temp, "state.json"), new TrainingState(4, 2.0).ToJson());
        if (oldExists)
        {
            Directory.CreateDirectory(old);
            File.WriteAllText(Path.Combine(old, "state.json"), new TrainingState(3, 1.5).ToJson());
        }
        Assert.False(run.HasCheckpoint);

        Assert.NotNull(run.RecoverInterruptedSave());
        Assert.True(run.HasCheckpoint);
        Assert.Equal(expected, run.LoadState().StepsDone);
        Assert.Null(run.RecoverInterruptedSave());   // a complete checkpoint is left alone
        Assert.Equal(expected, run.LoadState().StepsDone);
    }

    [Fact]
    public void Nothing_to_recover_without_a_complete_folder()
    {
        using var folder = new TempFolder("bivm-run-");
        var run = new RunFolder(folder.Path);
        Directory.CreateDirectory(run.CheckpointDirectory + ".tmp");   // a write killed before its state.json
        Assert.Null(run.RecoverInterruptedSave());
        Assert.False(run.HasCheckpoint);
    }

    /// <summary>
    /// A run resumed by a newer bivm, whose losses.csv has more columns, keeps its earlier rows under their names: the
    /// new column is empty there, and no value moves under another column's name. Rows after the checkpoint go.
    /// </summary>
    [Fact]
    public void A_resumed_log_rewrites_its_kept_rows_under_the_current_columns()
    {
        using var folder = new TempFolder("bivm-run-");
        var run = new RunFolder(folder.Path);
        File.WriteAllLines(run.LossesPath,
        [
            "step,stage,total,lbm,grad_norm,seconds",
            "1,s1,0.5,1.25,3,10.00",
            "2,s1,0.4,1.5,2,20.00",
            "3,s1,0.3,1.75,1,30.00",
        ]);
        _ = new TrainingLog(run, keepSteps: 2);
        var lines = File.ReadAllLines(run.LossesPath);
        Assert.Equal(string.Join(',', TrainingLog.Columns), lines[0]);
        Assert.Equal(3, lines.Length);
        var second = TrainingLog.Columns.Zip(lines[2].Split(',')).ToDictionary(p => p.First, p => p.Second);
        Assert.Equal(("2", "s1", "0.4", "1.5", "2", "20.00"), (second["step"], second["stage"], second["total"], second["lbm"], second["grad_norm"], second["seconds"]));
        Assert.Equal("", second["pairwise"]);
        Assert.Equal("", second["binarization"]);
    }
}
