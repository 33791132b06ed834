using BiVM.Contracts;

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

    public static MattingNetwork Load(string weightsPath)
    {
        var configPath = ConfigPath(weightsPath);
        if (!File.Exists(configPath)) throw new UserInputException($"model configuration {configPath} not found next to the weights");
        var network = ModelFactory.Create(ModelConfig.FromJson(File.ReadAllText(configPath)));
        network.load(weightsPath, strict: true);
        return network;
    }
}
