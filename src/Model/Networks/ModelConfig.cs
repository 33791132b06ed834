using System.Text.Json;
using System.Text.Json.Serialization;
using BiVM.Contracts;
using BiVM.Model.Binarization;
using BiVM.Model.Decoder;

namespace BiVM.Model.Networks;

/// <summary>
/// Everything needed to rebuild a network before loading its weights; saved as JSON next to them.
/// </summary>
public sealed record ModelConfig
{
    public const int CurrentFormatVersion = 1;

    public int FormatVersion { get; init; } = CurrentFormatVersion;

    public ModelFamily Family { get; init; } = ModelFamily.Bivm;

    /// <summary>
    /// BiVM only: every 1-bit conv becomes 32-bit (same topology, SHB masks included), the full-precision
    /// counterpart used as the LBM teacher (section 3.5.2) and in the table-1 ablation.
    /// </summary>
    public bool FullPrecision { get; init; }

    /// <summary>
    /// How the BatchNorms normalize: <see cref="BatchNormMode.Batch"/> (RVM's), <see cref="BatchNormMode.Frame"/>
    /// (per frame, in training and inference; SHB's masked 3×3 then uses <see cref="BatchNormMode.Running"/>), or
    /// <see cref="BatchNormMode.Fixed"/> (imported weights whose BatchNorms were folded: a fixed affine).
    /// </summary>
    public BatchNormMode Normalization { get; init; } = BatchNormMode.Batch;

    /// <summary>BiVM only: candidate mask densities of the τ* search (eq. 16).</summary>
    public IReadOnlyList<double> ShbMaskDensities { get; init; } = DecoderPlan.DefaultMaskDensities;

    /// <summary>
    /// The decoder blocks' output channels, decode3 (1/8), decode2 (1/4), decode1 (1/2), decode0 (1/1); the DGF's hidden
    /// input has decode0's. RVM's 80, 40, 32, 16 by default, as the paper's networks have them; narrower decode1 and decode0
    /// make a frame cheaper (docs/kernels.md, thirty-ninth session) and a network other than the paper's.
    /// </summary>
    public IReadOnlyList<long> DecoderChannels { get; init; } = DecoderPlan.RvmBlockChannels;

    public static ModelConfig For(ModelFamily family, bool fullPrecision = false) => new() { Family = family, FullPrecision = fullPrecision };

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static ModelConfig FromJson(string json)
    {
        var config = JsonSerializer.Deserialize<ModelConfig>(json, Json) ?? throw new UserInputException("empty model configuration");
        if (config.FormatVersion != CurrentFormatVersion)
            throw new UserInputException($"model configuration format {config.FormatVersion}, this build reads {CurrentFormatVersion}");
        if (config.Normalization == BatchNormMode.Running)
            throw new UserInputException("normalization: batch, frame or fixed (running is SHB's masked conv's, set by the network)");
        if (config.FullPrecision && config.Family != ModelFamily.Bivm)
            throw new UserInputException($"fullPrecision applies to bivm only, not {config.Family.ToCliName()}");
        if (DecoderPlan.BlockChannelsProblem(config.DecoderChannels) is { } problem) throw new UserInputException(problem);
        return config;
    }
}
