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

    /// <summary>
    /// The real-people validation set: people from held-out sources only (MediaCatalog.People, use
    /// "validation") over held-out backgrounds (MediaUse.HeldOutBackground), 20 clips of 8 frames at
    /// 512x288, seed 2001. Needs the people bank (scripts/fetch-people.sh, which also writes this set
    /// to .data/people/val-people-s2001 for `bivm eval --data`).
    /// </summary>
    public static DataSetSpec RealPeopleValidation { get; } = new("val-people-s2001", DataSplit.Validation, 2001, 20,
        new ClipOptions { Frames = 8, Width = 512, Height = 288, RealPeople = 1, HeldOutBackgrounds = true });

    /// <summary>A training stream's spec for a seed; the count is only what Clips() yields; use ClipGenerator.Stream for an endless stream.</summary>
    public static DataSetSpec Training(long seed, int clipCount, ClipOptions? options = null) =>
        new($"train-s{seed}", DataSplit.Training, seed, clipCount, options ?? new ClipOptions());

    /// <summary>A validation-split set with another seed or size, e.g. `bivm eval --seed N`.</summary>
    public static DataSetSpec ValidationWithSeed(long seed, int clipCount = 40, ClipOptions? options = null) =>
        new($"val-s{seed}", DataSplit.Validation, seed, clipCount, options ?? new ClipOptions());
}
