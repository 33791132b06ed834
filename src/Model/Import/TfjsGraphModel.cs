using System.Text.Json;
using BiVM.Contracts;

namespace BiVM.Model.Import;

/// <summary>One node of a TensorFlow.js graph model's GraphDef: its op and its data inputs (control inputs dropped).</summary>
public sealed record TfjsNode(string Name, string Op, IReadOnlyList<string> Inputs);

/// <summary>A constant of the graph, dequantized to float32 (int32 constants are converted; booleans are skipped).</summary>
public sealed record TfjsTensor(string Name, long[] Shape, float[] Values);

/// <summary>
/// A TensorFlow.js graph model (<c>model.json</c> with <c>"format": "graph-model"</c> and its weight shards), read
/// without TensorFlow: the nodes of <c>modelTopology.node</c> in file order and every weight of the
/// <c>weightsManifest</c>, dequantized. The format (tfjs-converter): each manifest group names its shard files, which
/// concatenated hold the group's weights back to back in manifest order, little-endian; a weight with
/// <c>quantization</c> {dtype uint8|uint16, min, scale} stores <c>q</c> and means <c>min + scale·q</c>, with
/// {dtype float16} it stores IEEE half floats.
/// </summary>
public sealed class TfjsGraphModel
{
    private TfjsGraphModel(IReadOnlyList<TfjsNode> nodes, IReadOnlyDictionary<string, TfjsTensor> weights, string? generatedBy)
    {
        Nodes = nodes;
        Weights = weights;
        GeneratedBy = generatedBy;
    }

    public IReadOnlyList<TfjsNode> Nodes { get; }

    public IReadOnlyDictionary<string, TfjsTensor> Weights { get; }

    /// <summary>The model's <c>generatedBy</c> field (for provenance notes).</summary>
    public string? GeneratedBy { get; }

    /// <summary>The weight named <paramref name="name"/>, or a <see cref="UserInputException"/> naming it.</summary>
    public TfjsTensor Weight(string name) =>
        Weights.TryGetValue(name, out var w) ? w : throw new UserInputException($"TF.js model: weight '{name}' not found");

    public static TfjsGraphModel Load(string modelJsonPath)
    {
        if (!File.Exists(modelJsonPath)) throw new UserInputException($"{modelJsonPath}: TF.js model not found");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllText(modelJsonPath));
        }
        catch (JsonException e)
        {
            throw new UserInputException($"{modelJsonPath}: not JSON: {e.Message}", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (!root.TryGetProperty("format", out var format) || format.GetString() != "graph-model"
                || !root.TryGetProperty("modelTopology", out var topology) || !root.TryGetProperty("weightsManifest", out var manifest))
                throw new UserInputException($"{modelJsonPath}: not a TF.js graph model (format, modelTopology and weightsManifest expected)");
            var nodes = topology.GetProperty("node").EnumerateArray().Select(ReadNode).ToList();
            var folder = Path.GetDirectoryName(Path.GetFullPath(modelJsonPath))!;
            var weights = new Dictionary<string, TfjsTensor>(StringComparer.Ordinal);
            foreach (var group in manifest.EnumerateArray()) ReadGroup(group, folder, modelJsonPath, weights);
            string? generatedBy = root.TryGetProperty("generatedBy", out var g) ? g.GetString() : null;
            return new TfjsGraphModel(nodes, weights, generatedBy);
        }
    }

    private static TfjsNode ReadNode(JsonElement node)
    {
        var inputs = node.TryGetProperty("input", out var list)
            ? list.EnumerateArray().Select(i => i.GetString()!).Where(i => !i.StartsWith('^')).ToList()
            : [];
        return new TfjsNode(node.GetProperty("name").GetString()!, node.GetProperty("op").GetString()!, inputs);
    }

    private static void ReadGroup(JsonElement group, string folder, string source, Dictionary<string, TfjsTensor> weights)
    {
        using var bytes = new MemoryStream();
        foreach (var path in group.GetProperty("paths").EnumerateArray())
        {
            var file = Path.Combine(folder, path.GetString()!);
            if (!File.Exists(file)) throw new UserInputException($"{source}: weight shard {file} not found");
            using var shard = File.OpenRead(file);
            shard.CopyTo(bytes);
        }
        var data = bytes.GetBuffer().AsSpan(0, (int)bytes.Length);
        int offset = 0;
        foreach (var w in group.GetProperty("weights").EnumerateArray())
        {
            var name = w.GetProperty("name").GetString()!;
            var shape = w.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            long count = shape.Aggregate(1L, (a, b) => a * b);
            var dtype = w.GetProperty("dtype").GetString();
            string storage = w.TryGetProperty("quantization", out var q) ? q.GetProperty("dtype").GetString()! : dtype!;
            int width = storage switch
            {
                "float32" or "int32" => 4,
                "uint16" or "float16" => 2,
                "uint8" or "bool" => 1,
                _ => throw new UserInputException($"{source}: weight '{name}' is stored as {storage}, which this reader does not know"),
            };
            long size = count * width;
            if (offset + size > data.Length) throw new UserInputException($"{source}: the weight shards end inside weight '{name}' (damaged or truncated download)");
            var raw = data.Slice(offset, (int)size);
            offset += (int)size;
            if (dtype == "bool") continue;
            var values = new float[count];
            switch (storage)
            {
                case "float32":
                    System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw).CopyTo(values);
                    break;
                case "int32":
                    var ints = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(raw);
                    for (int i = 0; i < values.Length; i++) values[i] = ints[i];
                    break;
                case "float16":
                    var halves = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(raw);
                    for (int i = 0; i < values.Length; i++) values[i] = (float)halves[i];
                    break;
                default: // uint8 / uint16: affine quantization
                    double min = q.GetProperty("min").GetDouble(), scale = q.GetProperty("scale").GetDouble();
                    for (int i = 0; i < values.Length; i++)
                        values[i] = (float)(min + scale * (width == 1 ? raw[i] : BitConverter.ToUInt16(raw.Slice(2 * i, 2))));
                    break;
            }
            weights[name] = new TfjsTensor(name, shape, values);
        }
        if (offset != data.Length) throw new UserInputException($"{source}: {data.Length - offset} bytes of the weight shards belong to no weight (a different manifest?)");
    }
}
