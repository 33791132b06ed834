using BiVM.Contracts;
namespace BiVM.Estimators.Video;

/// <summary>The trained BiVM model embedded in this assembly (models/bivm.onnx at build time).</summary>
public static class DefaultModel
{
    /// <summary>How errors and summaries name the default model.</summary>
    public const string Name = "the shipped bivm.onnx";
    private const string ResourceName = "BiVM.Estimators.Models.bivm.onnx";

    /// <summary>Whether this build carries a default model.</summary>
    public static bool IsAvailable => typeof(DefaultModel).Assembly.GetManifestResourceInfo(ResourceName) is not null;

    /// <summary>The model's bytes.</summary>
    /// <exception cref="UserInputException">This build ships no default model.</exception>
    public static byte[] Load()
    {
        using var stream = typeof(DefaultModel).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new UserInputException("This build of BiVM.Estimators ships no default model yet (see README, 'Status'): pass a model file (VideoMatterOptions.ModelPath, or --model).");
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }
}
