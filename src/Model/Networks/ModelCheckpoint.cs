using BiVM.Contracts;
using TorchSharp;

namespace BiVM.Model.Networks;

/// <summary>
/// Weights in TorchSharp's format (<c>Module.save</c>/<c>load</c>, keys = field paths) and the
/// configuration as JSON next to them: <c>model.bin</c> + <c>model.json</c>.
/// </summary>
public static class ModelCheckpoint
{
    public static string ConfigPath(string weightsPath) => Path.ChangeExtension(weightsPath, ".json");

    public static void Save(MattingNetwork network, string weightsPath)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(weightsPath));
        if (directory is not null) Directory.CreateDirectory(directory);
        network.save(weightsPath);
        File.WriteAllText(ConfigPath(weightsPath), network.Config.ToJson());
    }

    /// <summary>
    /// The network <paramref name="weightsPath"/>'s model.json describes, with those weights. A file that is not
    /// such weights (another model's, truncated, not a checkpoint) fails with <see cref="UserInputException"/> naming
    /// the file: TorchSharp's own message ("Mismatched state_dict sizes …") names neither file nor model.
    /// </summary>
    public static MattingNetwork Load(string weightsPath)
    {
        var configPath = ConfigPath(weightsPath);
        if (!File.Exists(configPath)) throw new UserInputException($"model configuration {configPath} not found next to the weights");
        ModelConfig config;
        try
        {
            config = ModelConfig.FromJson(File.ReadAllText(configPath));
        }
        catch (Exception e) when (e is not UserInputException)
        {
            throw new UserInputException($"{configPath}: not a model configuration: {FirstLine(e.Message)}", e);
        }
        var network = ModelFactory.Create(config);
        try
        {
            LoadWeights(network, weightsPath);
        }
        catch (Exception e) when (e is not UserInputException)
        {
            network.Dispose();
            throw new UserInputException($"{weightsPath}: not weights of the {config.Family.ToCliName()} network {Path.GetFileName(configPath)} describes (a different model, or a damaged file): {FirstLine(e.Message)}", e);
        }
        return network;
    }

    /// <summary>
    /// Every tensor, strictly; weights written before <see cref="Binarization.BinaryConv2d.Gain"/> existed have none of
    /// the gains, which then stay 1, what those networks computed. A file missing any other tensor fails (with the
    /// strict load's error).
    /// </summary>
    public static void LoadWeights(MattingNetwork network, string weightsPath)
    {
        try
        {
            network.load(weightsPath, strict: true);
        }
        catch (Exception) when (network.named_buffers().Any(b => IsGain(b.name)))
        {
            var loaded = new Dictionary<string, bool>();
            network.load(weightsPath, strict: false, loadedParameters: loaded);
            var missing = network.state_dict().Keys.Where(k => !loaded.GetValueOrDefault(k)).ToList();
            if (missing.Count == 0 || !missing.All(IsGain)) throw;
            using (torch.no_grad())
                foreach (var (name, buffer) in network.named_buffers())
                    if (IsGain(name)) buffer.fill_(1);
        }
    }

    private static bool IsGain(string name) => name == "gain" || name.EndsWith(".gain");

    private static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();
}
