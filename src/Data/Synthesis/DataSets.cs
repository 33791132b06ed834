using BiVM.Data.Media;

namespace BiVM.Data.Synthesis;

/// <summary>A generated data set, named by its seed: (split, seed, clip count, clip options).</summary>
public sealed record DataSetSpec(string Name, DataSplit Split, long Seed, int ClipCount, ClipOptions Options)
{
    /// <summary>The set's clips, generated one at a time.</summary>
    public IEnumerable<Clip> Clips(MediaLibrary? library = null) =>
        new ClipGenerator(Options, Split, library).Stream(Seed, 0, ClipCount);
}

/// <summary>The project's named data sets (docs/data.md).</summary>
public static class DataSets
{
    /// <summary>The fixed validation set: seed 1001, 40 clips of 15 frames at 256x144 (all media, reserved real-people files included).</summary>
    public static DataSetSpec Validation { get; } = new("val-s1001", DataSplit.Validation, 1001, 40, new ClipOptions());

    /// <summary>A training stream's spec for a seed; the count is only what Clips() yields; use ClipGenerator.Stream for an endless stream.</summary>
    public static DataSetSpec Training(long seed, int clipCount, ClipOptions? options = null) =>
        new($"train-s{seed}", DataSplit.Training, seed, clipCount, options ?? new ClipOptions());

    /// <summary>A validation-split set with another seed or size, e.g. `bivm eval --seed N`.</summary>
    public static DataSetSpec ValidationWithSeed(long seed, int clipCount = 40, ClipOptions? options = null) =>
        new($"val-s{seed}", DataSplit.Validation, seed, clipCount, options ?? new ClipOptions());
}
