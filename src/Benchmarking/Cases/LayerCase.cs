using BiVM.CustomOps.BinaryConv2d;

namespace BiVM.Benchmarking.Cases;

/// <summary>
/// One benchmarked layer: the shapes of issue #3 (batch 1). Shared by the BenchmarkDotNet classes and the quick
/// mode (<c>bivm bench --kernels</c>), so both measure exactly the same thing.
/// </summary>
public sealed record LayerCase(string Name, BinaryConv2dParams P, int? MaskScale = null)
{
    public static readonly IReadOnlyList<LayerCase> All =
    [
        new("3x3 64->64 @72x128", BinaryConv2dParams.Square(1, 64, 72, 128, 64, 3), MaskScale: 4),
        new("3x3 128->128 @36x64", BinaryConv2dParams.Square(1, 128, 36, 64, 128, 3)),
        new("3x3 256->256 @18x32 d2", BinaryConv2dParams.Square(1, 256, 18, 32, 256, 3, dilation: 2)),
        new("1x1 256->128 @18x32", BinaryConv2dParams.Square(1, 256, 18, 32, 128, 1)),
        new("3x3 32->64 s2 @144x256", BinaryConv2dParams.Square(1, 32, 144, 256, 64, 3, stride: 2)),
        // SHB's first sparse 3×3 in decode0 at 512×288, whose mask (18×32 cells, as at every decoder level) has cells of 16×16.
        new("3x3 35->16 @288x512", BinaryConv2dParams.Square(1, 35, 288, 512, 16, 3), MaskScale: 16),
    ];

    /// <summary>
    /// The SHB masked conv cases, timed also as SparseBinaryConv2d with a 10 % mask (random cells of
    /// <see cref="MaskScale"/>²): the shipped model's 18×32-cell mask at decode2's size (cells of 4) and at decode0's (16).
    /// </summary>
    public static IEnumerable<LayerCase> SparseCases => All.Where(c => c.MaskScale is not null);

    /// <summary>The first sparse case (the BenchmarkDotNet sparse benchmark's).</summary>
    public static readonly LayerCase Sparse = All[0];

    /// <summary>The mask cell of a case that is not a sparse case (its sparse op is built, not reported).</summary>
    public const int DefaultMaskScale = 4;

    public const double SparseActiveFraction = 0.10;

    public static LayerCase ByName(string name) =>
        All.FirstOrDefault(c => c.Name == name) ?? throw new ArgumentException($"unknown layer case '{name}'");

    /// <summary>Binary multiply-accumulates (= bits XOR-popcounted) per run.</summary>
    public long Macs => (long)P.OutChannels * P.OutHeight * P.OutWidth * P.InChannels * P.Taps;

    public override string ToString() => Name;
}
