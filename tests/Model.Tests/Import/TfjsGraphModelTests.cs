using BiVM.Contracts;
using BiVM.Model.Import;

namespace BiVM.Model.Tests.Import;

/// <summary>The TF.js graph-model reader on small files written here: every storage type, and damaged files.</summary>
public sealed class TfjsGraphModelTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tfjs-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // Weights in manifest order: q (uint8, min −1, scale 0.5) [2,2]; f (float32) [3]; i (int32) [2]; b (bool) [3];
    // h (float16 stored) [2]; w (uint16, min 10, scale 0.25) [1]. Split over two shards to check they are joined.
    private string Write(Func<byte[], byte[]>? damage = null, string? extraWeight = null)
    {
        var bytes = new List<byte>();
        bytes.AddRange([0, 1, 2, 255]);
        foreach (var f in new[] { 1.5f, -2.25f, 1e-3f }) bytes.AddRange(BitConverter.GetBytes(f));
        foreach (var i in new[] { 7, -3 }) bytes.AddRange(BitConverter.GetBytes(i));
        bytes.AddRange([1, 0, 1]);
        foreach (var h in new[] { (Half)0.5f, (Half)(-4f) }) bytes.AddRange(BitConverter.GetBytes(h));
        bytes.AddRange(BitConverter.GetBytes((ushort)1000));
        var data = damage is null ? bytes.ToArray() : damage(bytes.ToArray());
        int half = Math.Min(10, data.Length);
        File.WriteAllBytes(Path.Combine(_dir, "group1-shard1of2.bin"), data[..half]);
        File.WriteAllBytes(Path.Combine(_dir, "group1-shard2of2.bin"), data[half..]);
        string json = $$$"""
        {"format": "graph-model", "generatedBy": "test",
         "modelTopology": {"node": [
            {"name": "x", "op": "Placeholder"},
            {"name": "conv", "op": "Conv2D", "input": ["x", "q", "^ctrl"]}]},
         "weightsManifest": [{"paths": ["group1-shard1of2.bin", "group1-shard2of2.bin"], "weights": [
            {"name": "q", "shape": [2, 2], "dtype": "float32", "quantization": {"dtype": "uint8", "min": -1.0, "scale": 0.5, "original_dtype": "float32"}},
            {"name": "f", "shape": [3], "dtype": "float32"},
            {"name": "i", "shape": [2], "dtype": "int32"},
            {"name": "b", "shape": [3], "dtype": "bool"},
            {"name": "h", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}},
            {"name": "w", "shape": [1], "dtype": "float32", "quantization": {"dtype": "uint16", "min": 10.0, "scale": 0.25}}{{{extraWeight}}}]}]}
        """;
        string path = Path.Combine(_dir, "model.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void Every_storage_type_reads_back_dequantized()
    {
        var model = TfjsGraphModel.Load(Write());
        Assert.Equal([-1f, -0.5f, 0f, 126.5f], model.Weight("q").Values);
        Assert.Equal([2L, 2L], model.Weight("q").Shape);
        Assert.Equal([1.5f, -2.25f, 1e-3f], model.Weight("f").Values);
        Assert.Equal([7f, -3f], model.Weight("i").Values);
        Assert.False(model.Weights.ContainsKey("b"));
        Assert.Equal([0.5f, -4f], model.Weight("h").Values);
        Assert.Equal([260f], model.Weight("w").Values);
        Assert.Equal("test", model.GeneratedBy);
    }

    [Fact]
    public void Nodes_keep_file_order_and_drop_control_inputs()
    {
        var model = TfjsGraphModel.Load(Write());
        Assert.Equal(["x", "conv"], model.Nodes.Select(n => n.Name));
        Assert.Equal(["x", "q"], model.Nodes[1].Inputs);
    }

    [Fact]
    public void Truncated_shards_are_refused_naming_the_weight()
    {
        var e = Assert.Throws<UserInputException>(() => TfjsGraphModel.Load(Write(d => d[..^1])));
        Assert.Contains("'w'", e.Message);
    }

    [Fact]
    public void Bytes_that_belong_to_no_weight_are_refused()
    {
        var e = Assert.Throws<UserInputException>(() => TfjsGraphModel.Load(Write(d => [.. d, 0])));
        Assert.Contains("belong to no weight", e.Message);
    }

    [Fact]
    public void An_unknown_storage_type_and_a_missing_weight_are_named()
    {
        var path = Write(extraWeight: """, {"name": "c", "shape": [1], "dtype": "complex64"}""");
        Assert.Contains("complex64", Assert.Throws<UserInputException>(() => TfjsGraphModel.Load(path)).Message);
        Assert.Contains("'nope'", Assert.Throws<UserInputException>(() => TfjsGraphModel.Load(Write()).Weight("nope")).Message);
    }

    [Fact]
    public void A_file_that_is_not_a_graph_model_is_refused()
    {
        string path = Path.Combine(_dir, "layers.json");
        File.WriteAllText(path, """{"format": "layers-model", "modelTopology": {}}""");
        Assert.Contains("not a TF.js graph model", Assert.Throws<UserInputException>(() => TfjsGraphModel.Load(path)).Message);
        Assert.Contains("not found", Assert.Throws<UserInputException>(() => TfjsGraphModel.Load(Path.Combine(_dir, "none.json"))).Message);
    }
}
