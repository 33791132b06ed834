using System.Security.Cryptography;
using System.Text.Json;

namespace BiVM.People.Tests;

public sealed class ChunkedResourceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bivm-chunks-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Writes a resources.json for <paramref name="data"/> cut at <paramref name="cuts"/>, chunks named by hash, listed out of order.</summary>
    private List<string> Publish(byte[] data, params int[] cuts)
    {
        var bounds = new[] { 0 }.Concat(cuts).Append(data.Length).ToArray();
        var chunks = new List<object>();
        var names = new List<string>();
        for (int i = 0; i + 1 < bounds.Length; i++)
        {
            var part = data[bounds[i]..bounds[i + 1]];
            string hash = Convert.ToHexStringLower(SHA256.HashData(part));
            File.WriteAllBytes(Path.Combine(_dir, hash), part);
            chunks.Add(new { hash, offsets = new[] { bounds[i], bounds[i + 1] } });
            names.Add(hash);
        }
        chunks.Reverse(); // the joiner must order by offset, not trust the listing
        var index = new Dictionary<string, object> { ["/models/test"] = new { chunks, size = data.Length, mime = "application/octet-steam" } };
        File.WriteAllText(Path.Combine(_dir, "resources.json"), JsonSerializer.Serialize(index));
        return names;
    }

    private static byte[] Data(int n) => Enumerable.Range(0, n).Select(i => (byte)(i * 7 + i / 256)).ToArray();

    [Fact]
    public void Joins_chunks_in_offset_order()
    {
        var data = Data(10_000);
        Publish(data, 4096, 8192);
        string output = Path.Combine(_dir, "out", "model.onnx");
        ChunkedResource.Join(_dir, "/models/test", output);
        Assert.Equal(data, File.ReadAllBytes(output));
        Assert.False(File.Exists(output + ".tmp"));
    }

    [Fact]
    public void Refuses_a_corrupt_chunk_and_leaves_no_output()
    {
        var names = Publish(Data(10_000), 4096, 8192);
        string bad = Path.Combine(_dir, names[1]);
        var bytes = File.ReadAllBytes(bad);
        bytes[100] ^= 1;
        File.WriteAllBytes(bad, bytes);
        string output = Path.Combine(_dir, "model.onnx");
        var e = Assert.Throws<InvalidDataException>(() => ChunkedResource.Join(_dir, "/models/test", output));
        Assert.Contains(names[1], e.Message);
        Assert.Contains("corrupt", e.Message);
        Assert.False(File.Exists(output));
        Assert.False(File.Exists(output + ".tmp"));
    }

    [Fact]
    public void Refuses_a_missing_chunk_a_gap_and_a_wrong_size()
    {
        var data = Data(10_000);
        var names = Publish(data, 4096);
        File.Delete(Path.Combine(_dir, names[0]));
        Assert.Throws<FileNotFoundException>(() => ChunkedResource.Join(_dir, "/models/test", Path.Combine(_dir, "a.onnx")));

        Publish(data, 4096);
        string json = File.ReadAllText(Path.Combine(_dir, "resources.json"));
        File.WriteAllText(Path.Combine(_dir, "resources.json"), json.Replace("\"size\":10000", "\"size\":10001"));
        var size = Assert.Throws<InvalidDataException>(() => ChunkedResource.Join(_dir, "/models/test", Path.Combine(_dir, "b.onnx")));
        Assert.Contains("10001", size.Message);

        File.WriteAllText(Path.Combine(_dir, "resources.json"), json.Replace("[0,4096]", "[0,4000]"));
        Assert.Throws<InvalidDataException>(() => ChunkedResource.Join(_dir, "/models/test", Path.Combine(_dir, "c.onnx")));
        Assert.Throws<InvalidDataException>(() => ChunkedResource.Join(_dir, "/models/other", Path.Combine(_dir, "d.onnx")));
    }
}
