using BiVM.Data.Media;
using BiVM.Data.Synthesis;

namespace BiVM.Data.Tests;

/// <summary>
/// Shared generated clips. Needs the fetched Debian media: without it the generator's constructor
/// throws MediaMissingException ("run ./install.sh"), so these tests fail loudly rather than skip.
/// </summary>
internal static class TestMedia
{
    public static readonly ClipOptions Small = new() { Frames = 6, Width = 96, Height = 64 };

    private static readonly Lazy<ClipGenerator> TrainingGenerator = new(() => new ClipGenerator(Small, DataSplit.Training));
    private static readonly Lazy<Clip[]> TrainingClips = new(() => TrainingGenerator.Value.Stream(seed: 7, startIndex: 0, count: 4).ToArray());

    public static ClipGenerator Training => TrainingGenerator.Value;

    /// <summary>Clips 0..3 of seed 7 (training split, 6 frames of 96x64).</summary>
    public static Clip[] Clips => TrainingClips.Value;

    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "BiVM.Onnx.sln"))) return dir.FullName;
        throw new InvalidOperationException($"No BiVM.Onnx.sln above {AppContext.BaseDirectory}.");
    }
}
