using System.IO.Compression;
using BiVM.Contracts;
using BiVM.Model;
using BiVM.Model.Decoder;
using BiVM.Model.Networks;
using TorchSharp;
using static TorchSharp.torch;

namespace BiVM.Training;

/// <summary>
/// A training run's checkpoint as one file small enough to commit, to continue the run on another machine
/// (<c>bivm pack-run</c>, then <c>bivm train --resume-from</c>). A zip of:
/// <code>
///   model.json                the network's configuration (as next to every model.bin)
///   model.f16.bin             the weights in float16 (TorchSharp's format), half of model.bin's size
///   state.json                steps done and seconds spent
///   config.json, losses.csv, events.log   the run's own files, so the continued run has its whole history
/// </code>
/// Left out: Adam's moments (optimizer.bin, twice the weights in float32). A continued run restarts them, as every
/// stage starts them, and takes float16's rounding of the weights (a relative 2⁻¹¹ from 6·10⁻⁵ up; a weight below
/// 6·10⁻⁸ becomes 0, which a 1-bit layer reads as +1); apart from those two it continues as <c>--resume</c> does, since
/// clip i of step s is a pure function of the data seed and s.
/// </summary>
public static class RunPack
{
    private const string ModelConfigEntry = "model.json", WeightsEntry = "model.f16.bin", StateEntry = "state.json";

    /// <summary>Writes <paramref name="run"/>'s checkpoint to <paramref name="file"/> (under a temporary name, renamed when complete).</summary>
    public static void Write(RunFolder run, string file)
    {
        if (!run.HasCheckpoint) throw new UserInputException($"{run.Root}: no checkpoint to pack (a run folder of bivm train holds checkpoint/state.json)");
        string temp = file + ".tmp";
        string staging = Directory.CreateTempSubdirectory("bivm-pack-").FullName;
        try
        {
            using (var network = ModelCheckpoint.Load(run.CheckpointWeights))
            {
                network.to(ScalarType.Float16);
                network.save(Path.Combine(staging, WeightsEntry));
                File.WriteAllText(Path.Combine(staging, ModelConfigEntry), network.Config.ToJson());
            }
            File.WriteAllText(Path.Combine(staging, StateEntry), run.LoadState().ToJson());
            foreach (var path in run.RunFiles)
                if (File.Exists(path)) File.Copy(path, Path.Combine(staging, Path.GetFileName(path)));
            File.Delete(temp);
            ZipFile.CreateFromDirectory(staging, temp, CompressionLevel.SmallestSize, includeBaseDirectory: false);
            File.Move(temp, file, overwrite: true);
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
            File.Delete(temp);
        }
    }

    /// <summary>
    /// Makes <paramref name="file"/>'s checkpoint the checkpoint of <paramref name="run"/>, a folder without one, for a
    /// network of <paramref name="expected"/>'s family, precision, normalization and decoder widths; the weights back in float32, no
    /// optimizer state.
    /// Returns the steps it holds.
    /// </summary>
    public static int Unpack(string file, RunFolder run, ModelConfig expected)
    {
        if (!File.Exists(file)) throw new UserInputException($"{file}: run pack not found");
        if (run.HasCheckpoint) throw new UserInputException($"{run.Root} already holds a checkpoint: continue it with --resume, or choose another run folder for --resume-from");
        string staging = Directory.CreateTempSubdirectory("bivm-unpack-").FullName;
        try
        {
            try
            {
                ZipFile.ExtractToDirectory(file, staging);
            }
            catch (Exception e) when (e is InvalidDataException or IOException)
            {
                // Not a zip, a damaged one, or one whose entries would land outside the folder.
                throw new UserInputException($"{file}: not a run pack (bivm pack-run writes them): {e.Message}", e);
            }
            foreach (var entry in new[] { ModelConfigEntry, WeightsEntry, StateEntry })
                if (!File.Exists(Path.Combine(staging, entry))) throw new UserInputException($"{file}: not a run pack: it has no {entry}");
            ModelConfig config;
            TrainingState state;
            try
            {
                config = ModelConfig.FromJson(File.ReadAllText(Path.Combine(staging, ModelConfigEntry)));
                state = TrainingState.FromJson(File.ReadAllText(Path.Combine(staging, StateEntry)));
            }
            catch (Exception e) when (e is not UserInputException)
            {
                throw new UserInputException($"{file}: not a run pack: its {ModelConfigEntry} or {StateEntry} does not read: {e.Message.Split('\n')[0]}", e);
            }
            if (config.Family != expected.Family || config.FullPrecision != expected.FullPrecision || config.Normalization != expected.Normalization
                || !config.DecoderChannels.SequenceEqual(expected.DecoderChannels))
                throw new UserInputException($"{file} holds a run of {Describe(config)}, but the configuration trains {Describe(expected)}");
            using (var network = ModelFactory.Create(config))
            {
                network.to(ScalarType.Float16);
                try
                {
                    network.load(Path.Combine(staging, WeightsEntry), strict: true);
                }
                catch (Exception e) when (e is not UserInputException)
                {
                    throw new UserInputException($"{file}: its weights are not those of the {Describe(config)} network its model.json describes: {e.Message.Split('\n')[0]}", e);
                }
                network.to(ScalarType.Float32);
                foreach (var path in run.RunFiles)
                {
                    string packed = Path.Combine(staging, Path.GetFileName(path));
                    if (!File.Exists(packed) || File.Exists(path)) continue;
                    Directory.CreateDirectory(run.Root);
                    File.Copy(packed, path);
                }
                run.SaveWeightsOnly(network, state);
            }
            return state.StepsDone;
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
        }
    }

    private static string Describe(ModelConfig config) =>
        $"{config.Family.ToCliName()}{(config.FullPrecision ? " full-precision" : "")} ({config.Normalization.ToString().ToLowerInvariant()} normalization"
        + (config.DecoderChannels.SequenceEqual(DecoderPlan.RvmBlockChannels) ? ")" : $", decoder {string.Join(", ", config.DecoderChannels)})");
}
