using BiVM.Model.Binarization;

namespace BiVM.Model.Decoder;

/// <summary>
/// RVM's recurrent decoder channel plan (rvm-architecture.md §3) and how it is binarized.
/// </summary>
/// <param name="FeatureChannels">f1, f2, f3 and the LR-ASPP output f4.</param>
/// <param name="BlockChannels">outputs of decode3 (1/8), decode2 (1/4), decode1 (1/2), decode0 (1/1): RVM's 80, 40, 32, 16.</param>
/// <param name="UseShb">SHB in every block after the bottleneck (paper table 6).</param>
/// <param name="OutputConv2Precision">The output block's second 3×3: 32-bit in the ReActNet baseline
/// (BiMatting's precedent, which also matches the paper's 0.38 G for the binarized decoder), SHB in BiVM.</param>
/// <param name="ShbMaskDensities">Candidate densities for the τ* search of eq. (16).</param>
public sealed record DecoderPlan(
    IReadOnlyList<long> FeatureChannels,
    IReadOnlyList<long> BlockChannels,
    ConvPrecision Precision,
    ActivationKind Activation,
    bool UseShb,
    ConvPrecision OutputConv2Precision,
    ActivationKind OutputConv2Activation,
    IReadOnlyList<double> ShbMaskDensities)
{
    public static IReadOnlyList<long> RvmBlockChannels { get; } = new long[] { 80, 40, 32, 16 };

    /// <summary>
    /// Why <paramref name="blockChannels"/> cannot be a decoder's block outputs (decode3, decode2, decode1, decode0), or
    /// null: four of them, decode3 to decode1 even (each ConvGRU takes half its block's channels) and decode0 at least 1.
    /// </summary>
    public static string? BlockChannelsProblem(IReadOnlyList<long>? blockChannels) => blockChannels switch
    {
        null => "decoderChannels is missing",
        { Count: not 4 } => $"decoderChannels must list 4 widths (decode3, decode2, decode1, decode0), got {blockChannels.Count}",
        _ when blockChannels.Take(3).Any(c => c < 2 || c % 2 != 0) => $"decoderChannels {string.Join(", ", blockChannels)}: decode3, decode2 and decode1 must be even and at least 2 (each ConvGRU takes half its block's channels)",
        _ when blockChannels[3] < 1 => $"decoderChannels {string.Join(", ", blockChannels)}: decode0 needs at least 1 channel",
        _ => null,
    };

    /// <summary>Sparsest first; the paper does not give the search range of τ (see <see cref="IncoherentMask"/>).</summary>
    public static IReadOnlyList<double> DefaultMaskDensities { get; } = Enumerable.Range(1, 10).Select(i => i * 0.05).ToArray();

    public const long SourceChannels = 3;

    /// <summary>RVM's decoder on MobileNetV3 features (f1..f3 from the plan, f4 = LR-ASPP's 128), its blocks <paramref name="blockChannels"/> wide.</summary>
    public static DecoderPlan ForRvm(Encoder.MobileNetV3Plan encoder, long asppOut, IReadOnlyList<long> blockChannels, ConvPrecision precision,
        ActivationKind activation, ConvPrecision outputConv2Precision, IReadOnlyList<double> maskDensities) =>
        new(new[] { encoder.FeatureChannels[0], encoder.FeatureChannels[1], encoder.FeatureChannels[2], asppOut },
            blockChannels, precision, activation, UseShb: false, outputConv2Precision, ActivationKind.Relu, maskDensities);
}
