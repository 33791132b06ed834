using System.Security.Cryptography;
using System.Text.Json;

namespace BiVM.People;

/// <summary>
/// A file that @imgly/background-removal-data ships split into chunks: dist/resources.json maps a
/// resource name ("/models/medium") to its size and its chunks, each named by its SHA-256 and
/// covering [offsets[0], offsets[1]) of the file. <see cref="Join"/> checks every chunk's hash,
/// that the chunks tile the file exactly, and the total size, and writes the file under a
/// temporary name first, so a bad or missing chunk leaves no output.
/// </summary>
public static class ChunkedResource
{
    public static void Join(string distDirectory, string resource, string outputPath)
    {
        string index = Path.Combine(distDirectory, "resources.json");
        if (!File.Exists(index)) throw new FileNotFoundException($"{index} not found; run scripts/fetch-people.sh to unpack the teacher's npm package.");
        using var json = JsonDocument.Parse(File.ReadAllBytes(index));
        if (!json.RootElement.TryGetProperty(resource, out var entry))
            throw new InvalidDataException($"{index} has no resource '{resource}'.");
        long size = entry.GetProperty("size").GetInt64();
        var chunks = entry.GetProperty("chunks").EnumerateArray()
            .Select(c => (Hash: c.GetProperty("hash").GetString()!, Start: c.GetProperty("offsets")[0].GetInt64(), End: c.GetProperty("offsets")[1].GetInt64()))
            .OrderBy(c => c.Start)
            .ToArray();

        string temp = outputPath + ".tmp";
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outputPath))!);
        try
        {
            using (var output = File.Create(temp))
            {
                long position = 0;
                foreach (var (hash, start, end) in chunks)
                {
                    if (start != position) throw new InvalidDataException($"{resource}: chunk {hash} starts at {start}, expected {position} (a gap or an overlap).");
                    string path = Path.Combine(distDirectory, hash);
                    if (!File.Exists(path)) throw new FileNotFoundException($"{resource}: chunk {path} is missing.");
                    byte[] bytes = File.ReadAllBytes(path);
                    if (bytes.LongLength != end - start) throw new InvalidDataException($"{resource}: chunk {hash} has {bytes.LongLength} bytes, its offsets say {end - start}.");
                    string actual = Convert.ToHexStringLower(SHA256.HashData(bytes));
                    if (actual != hash) throw new InvalidDataException($"{resource}: chunk {hash} has SHA-256 {actual}; the download is corrupt.");
                    output.Write(bytes);
                    position = end;
                }
                if (position != size) throw new InvalidDataException($"{resource}: chunks cover {position} bytes, resources.json says {size}.");
            }
            File.Move(temp, outputPath, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
