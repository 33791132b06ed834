using BiVM.Model.Networks;
using TorchSharp.Modules;

namespace BiVM.Model.Training;

/// <summary>
/// A run folder: <c>checkpoint/</c> (model.bin + model.json, optimizer.bin, state.json) and, at the
/// end, <c>final/</c>. A checkpoint is written into a fresh folder and swapped in by renames, so a
/// crash or Ctrl-C during the write leaves the previous checkpoint whole.
/// </summary>
public sealed class CheckpointStore(string runDirectory)
{
    public string RunDirectory { get; } = Path.GetFullPath(runDirectory);
    public string CheckpointDirectory => Path.Combine(RunDirectory, "checkpoint");
    public string FinalWeights => Path.Combine(RunDirectory, "final", "model.bin");
    public string LogPath => Path.Combine(RunDirectory, "losses.csv");

    public bool HasCheckpoint => File.Exists(Path.Combine(CheckpointDirectory, "state.json"));

    public void Save(MattingNetwork network, OptimizerHelper optimizer, TrainingState state)
    {
        Directory.CreateDirectory(RunDirectory);
        string temp = CheckpointDirectory + ".tmp";
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        Directory.CreateDirectory(temp);
        ModelCheckpoint.Save(network, Path.Combine(temp, "model.bin"));
        optimizer.save_state_dict(Path.Combine(temp, "optimizer.bin"));
        File.WriteAllText(Path.Combine(temp, "state.json"), state.ToJson());   // last: marks the folder complete

        string old = CheckpointDirectory + ".old";
        if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
        if (Directory.Exists(CheckpointDirectory)) Directory.Move(CheckpointDirectory, old);
        Directory.Move(temp, CheckpointDirectory);
        if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
    }

    public TrainingState LoadState() =>
        TrainingState.FromJson(File.ReadAllText(Path.Combine(CheckpointDirectory, "state.json")));

    public void LoadWeights(MattingNetwork network) => network.load(Path.Combine(CheckpointDirectory, "model.bin"), strict: true);

    public void LoadOptimizer(OptimizerHelper optimizer) => optimizer.load_state_dict(Path.Combine(CheckpointDirectory, "optimizer.bin"));

    public void SaveFinal(MattingNetwork network)
    {
        string dir = Path.GetDirectoryName(FinalWeights)!;
        string temp = dir + ".tmp";
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        ModelCheckpoint.Save(network, Path.Combine(temp, "model.bin"));
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.Move(temp, dir);
    }
}
