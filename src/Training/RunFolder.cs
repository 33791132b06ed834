using BiVM.Model.Networks;
using TorchSharp.Modules;

namespace BiVM.Training;

/// <summary>
/// The folder a training run lives in, and the one place that knows its layout:
/// <code>
///   config.json          the configuration the run was started with
///   checkpoint/          model.bin (+ model.json), optimizer.bin, state.json (written last: marks it complete)
///   final/model.bin      the trained weights (+ model.json)
///   losses.csv           one row per optimizer step (TrainingLog)
///   events.log           what is not a step: initialisation, calibration, recoveries
/// </code>
/// A checkpoint is written into a fresh folder and swapped in by renames, so a crash or Ctrl-C during the write
/// leaves the previous checkpoint whole.
/// </summary>
public sealed class RunFolder(string directory)
{
    private const string ConfigFile = "config.json", CheckpointFolder = "checkpoint", FinalFolder = "final",
        WeightsFile = "model.bin", OptimizerFile = "optimizer.bin", StateFile = "state.json";

    public string Root { get; } = Path.GetFullPath(directory);
    public string ConfigPath => Path.Combine(Root, ConfigFile);
    public string CheckpointDirectory => Path.Combine(Root, CheckpointFolder);
    public string FinalWeights => Path.Combine(Root, FinalFolder, WeightsFile);
    public string CheckpointWeights => Path.Combine(CheckpointDirectory, WeightsFile);
    public string LossesPath => Path.Combine(Root, "losses.csv");
    public string EventsPath => Path.Combine(Root, "events.log");

    /// <summary>The run's own files beside its weights: config.json, losses.csv, events.log (what a <see cref="RunPack"/> carries along).</summary>
    public IReadOnlyList<string> RunFiles => [ConfigPath, LossesPath, EventsPath];

    private string StatePath => Path.Combine(CheckpointDirectory, StateFile);

    public bool HasCheckpoint => File.Exists(StatePath);

    public void WriteConfig(TrainingConfig config)
    {
        Directory.CreateDirectory(Root);
        File.WriteAllText(ConfigPath, config.ToJson());
    }

    public void Save(MattingNetwork network, OptimizerHelper optimizer, TrainingState state) => WriteCheckpoint(network, optimizer, state);

    /// <summary>A checkpoint without optimizer state (a run continued from a <see cref="RunPack"/>): Adam restarts from it.</summary>
    public void SaveWeightsOnly(MattingNetwork network, TrainingState state) => WriteCheckpoint(network, null, state);

    /// <summary>Whether the checkpoint carries Adam's moments (every checkpoint bivm train writes; not one from a pack).</summary>
    public bool HasOptimizerState => File.Exists(Path.Combine(CheckpointDirectory, OptimizerFile));

    private void WriteCheckpoint(MattingNetwork network, OptimizerHelper? optimizer, TrainingState state)
    {
        Directory.CreateDirectory(Root);
        string temp = CheckpointDirectory + ".tmp";
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        Directory.CreateDirectory(temp);
        ModelCheckpoint.Save(network, Path.Combine(temp, WeightsFile));
        optimizer?.save_state_dict(Path.Combine(temp, OptimizerFile));
        File.WriteAllText(Path.Combine(temp, StateFile), state.ToJson());   // last: marks the folder complete

        string old = CheckpointDirectory + ".old";
        if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
        if (Directory.Exists(CheckpointDirectory)) Directory.Move(CheckpointDirectory, old);
        Directory.Move(temp, CheckpointDirectory);
        if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
    }

    /// <summary>
    /// Finishes a checkpoint swap that a kill interrupted. <see cref="Save"/> renames checkpoint/ to checkpoint.old/
    /// and then checkpoint.tmp/ to checkpoint/; a process killed between the two renames leaves no checkpoint/. The
    /// newest complete folder (its state.json is written last) becomes checkpoint/ again: the new one when it was
    /// complete, else the old one. Returns what it did, for the run's events.log, or null when nothing was needed.
    /// </summary>
    public string? RecoverInterruptedSave()
    {
        if (HasCheckpoint) return null;
        string temp = CheckpointDirectory + ".tmp", old = CheckpointDirectory + ".old";
        foreach (var candidate in new[] { temp, old })
        {
            if (!File.Exists(Path.Combine(candidate, StateFile))) continue;
            if (Directory.Exists(CheckpointDirectory)) Directory.Delete(CheckpointDirectory, recursive: true);
            Directory.Move(candidate, CheckpointDirectory);
            return $"checkpoint restored from {Path.GetFileName(candidate)} (a checkpoint write was interrupted)";
        }
        return null;
    }

    public TrainingState LoadState() => TrainingState.FromJson(File.ReadAllText(StatePath));

    public void LoadWeights(MattingNetwork network) => ModelCheckpoint.LoadWeights(network, CheckpointWeights);

    public void LoadOptimizer(OptimizerHelper optimizer) => optimizer.load_state_dict(Path.Combine(CheckpointDirectory, OptimizerFile));

    public void SaveFinal(MattingNetwork network)
    {
        string dir = Path.GetDirectoryName(FinalWeights)!;
        string temp = dir + ".tmp";
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        ModelCheckpoint.Save(network, Path.Combine(temp, WeightsFile));
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.Move(temp, dir);
    }

    /// <summary>
    /// The training facts for an exported model's metadata, for weights inside a run folder: the data seed (from
    /// config.json) and the steps behind them (all of them for final/, state.json's count for checkpoint/).
    /// Weights anywhere else give nothing.
    /// </summary>
    public static (long? DataSeed, long? Steps) Provenance(string weightsPath)
    {
        var weightsFolder = Path.GetDirectoryName(Path.GetFullPath(weightsPath))!;
        if (Path.GetDirectoryName(weightsFolder) is not { } parent) return (null, null);
        var run = new RunFolder(parent);
        if (!File.Exists(run.ConfigPath)) return (null, null);
        var config = TrainingConfig.Load(run.ConfigPath);
        long? steps = Path.GetFileName(weightsFolder) switch
        {
            FinalFolder => config.TotalSteps,
            CheckpointFolder when run.HasCheckpoint => run.LoadState().StepsDone,
            _ => null,
        };
        return (config.DataSeed, steps);
    }
}
