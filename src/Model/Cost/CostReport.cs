using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace BiVM.Model.Cost;

/// <summary>Per-layer and total parameters, stored size and FLOPs of one network at one input size.</summary>
public sealed record CostReport(string Model, long Height, long Width, double DownsampleRatio, double MaskDensity, IReadOnlyList<LayerCost> Layers)
{
    public long Parameters => Layers.Sum(l => l.Parameters);
    public long BinaryWeights => Layers.Sum(l => l.BinaryWeights);
    public long StoredBits => Layers.Sum(l => l.StoredBits);
    /// <summary>Stored size in MB (10⁶ bytes).</summary>
    public double StoredMegabytes => StoredBits / 8.0 / 1e6;
    public double StoredMebibytes => StoredBits / 8.0 / (1 << 20);
    public double Macs => Layers.Sum(l => l.Macs);
    public double Flops => Layers.Sum(l => l.Flops);

    /// <summary>Totals per top-level part (backbone, aspp, decoder, project_mat, refiner, …).</summary>
    public IReadOnlyList<LayerCost> Parts => Layers
        .GroupBy(l => l.Name.Split('.')[0])
        .Select(g => new LayerCost(g.Key, LayerKind.Part, Array.Empty<long>(), g.Sum(l => l.Parameters), g.Sum(l => l.BinaryWeights), g.Sum(l => l.Macs), g.Sum(l => l.Flops)))
        .ToArray();

    public string ToText(bool perLayer)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(c, $"model {Model}, input {Width}x{Height}, downsample_ratio {DownsampleRatio}, SHB mask density {MaskDensity}");
        sb.AppendLine(c, $"{"layer",-48} {"kind",-16} {"output",-18} {"params",10} {"size KB",9} {"MMAC",9} {"MFLOP",9}");
        foreach (var l in perLayer ? Layers : Parts)
        {
            var shape = l.OutputShape.Count == 0 ? "" : string.Join("x", l.OutputShape);
            sb.AppendLine(c, $"{l.Name,-48} {l.Kind,-16} {shape,-18} {l.Parameters,10} {l.StoredBits / 8e3,9:F1} {l.Macs / 1e6,9:F2} {l.Flops / 1e6,9:F2}");
        }
        sb.AppendLine(c, $"total: {Parameters} parameters ({BinaryWeights} at 1 bit), stored {StoredMegabytes:F3} MB ({StoredMebibytes:F3} MiB), {Macs / 1e9:F3} GMAC, {Flops / 1e9:F3} G FLOPs (binary MACs / 64)");
        return sb.ToString();
    }

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public string ToJson(bool perLayer)
    {
        var document = new
        {
            Model, Height, Width, DownsampleRatio, MaskDensity,
            Parameters, BinaryWeights, StoredBits, StoredMegabytes, StoredMebibytes, Macs, Flops,
            Parts,
            Layers = perLayer ? Layers : null,
        };
        return JsonSerializer.Serialize(document, Json);
    }
}
