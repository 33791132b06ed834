using BiVM.Cli;
using BiVM.Model;
using BiVM.Model.Networks;
using BiVM.Tests.Shared;
using BiVM.Training;

namespace BiVM.Cli.Tests;

/// <summary>
/// <c>bivm pack-run</c> and <c>bivm train --resume-from</c> from the command line: the pack is written whole or not at
/// all, bad input is one line (the continuation itself: Training.Tests' TrainerTests).
/// </summary>
public sealed class PackRunCommandTests : IDisposable
{
    private readonly TempFolder _dir = new("bivm-pack-run-");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Packs_a_run_folders_checkpoint_and_says_how_small()
    {
        var run = new RunFolder(_dir.File("run"));
        using (var network = ModelFactory.Create(ModelFamily.Rvm))
            run.SaveWeightsOnly(network, new TrainingState(7, 1.5));
        string pack = _dir.File("run.zip");
        var (code, stdout, stderr) = CliRunner.Run("pack-run", "--run", run.Root, "--out", pack);
        Assert.True(code == 0, stderr);
        Assert.Contains($"wrote {pack}: step 7 of {run.Root}", stdout);
        Assert.Equal(["run", "run.zip"], Directory.GetFileSystemEntries(_dir.Path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void Bad_input_is_one_line_and_writes_nothing()
    {
        string empty = _dir.File("empty");
        Directory.CreateDirectory(empty);
        var (code, _, stderr) = CliRunner.Run("pack-run", "--run", empty, "--out", _dir.File("run.zip"));
        Assert.Equal(ExitCodes.UserInputError, code);
        Assert.Equal($"bivm pack-run: {empty}: no checkpoint to pack (a run folder of bivm train holds checkpoint/state.json)", stderr.Trim());
        Assert.Equal(["empty"], Directory.GetFileSystemEntries(_dir.Path).Select(Path.GetFileName));

        var both = CliRunner.Run("train", "--config", "configs/smoke.json", "--run", _dir.File("r"), "--resume", "--resume-from", _dir.File("run.zip"));
        Assert.Equal(ExitCodes.UsageError, both.Code);
        Assert.Contains("not both", both.Err);
    }
}
