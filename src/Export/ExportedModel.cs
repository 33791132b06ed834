using BiVM.Contracts;
using Google.Protobuf;
using Onnx;

namespace BiVM.Export;

/// <summary>An exported model: the ONNX protobuf, what was written for each binary conv, and the metadata.</summary>
public sealed class ExportedModel(ModelProto model, IReadOnlyList<BinaryNodeInfo> binaryNodes, IReadOnlyList<(string Key, string Value)> metadata)
{
    public ModelProto Model { get; } = model;

    public IReadOnlyList<BinaryNodeInfo> BinaryNodes { get; } = binaryNodes;

    public IReadOnlyList<(string Key, string Value)> Metadata { get; } = metadata;

    /// <summary>The ONNX file's bytes, with the integrity checksum appended (<see cref="ModelChecksum"/>): loaders refuse the file if it changes later.</summary>
    public byte[] ToBytes() => ModelChecksum.Stamp(Model.ToByteArray());

    /// <summary>The still variant (<see cref="StillModel"/>): one image in, fgr and pha out.</summary>
    public ExportedModel ToStill() => new(StillModel.From(Model), BinaryNodes, [.. Metadata, ("still", "true")]);

    /// <summary>
    /// The glue between binary layers fused (<see cref="BiVM.Graph.GlueFusion"/>): fewer nodes, results bit-identical
    /// except for the folded InstanceNormalization's statistics (float rounding) and the DGF's full-resolution tail as one
    /// GuidedUpsample (within 1e-5). What <c>bivm export</c> writes unless told <c>--no-fuse</c>.
    /// </summary>
    public ExportedModel Fused()
    {
        var (model, _, _, _) = BiVM.Graph.GlueFusion.Apply(Model);
        // Nothing to fuse (the FP32 RVM: no RPReLU, no ai.bivm op): the file stays as it is, without a note.
        if (model.MetadataProps.FirstOrDefault(m => m.Key == BiVM.Graph.GlueFusion.MetadataKey)?.Value is not { } note) return this;
        return new(model, BinaryNodes, [.. Metadata, (BiVM.Graph.GlueFusion.MetadataKey, note)]);
    }

    /// <summary>
    /// Writes the file next to its destination under a temporary name and renames it into place, so a crash or
    /// Ctrl-C never leaves a truncated .onnx where a good one was expected.
    /// </summary>
    public long Save(string path)
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            var bytes = ToBytes();
            File.WriteAllBytes(temp, bytes);
            File.Move(temp, full, overwrite: true);
            return bytes.LongLength;
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>Node counts per op type ("ai.bivm.BinaryConv2d" for custom ops), If branches included.</summary>
    public IReadOnlyDictionary<string, int> NodeCounts()
    {
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        void Walk(GraphProto graph)
        {
            foreach (var node in graph.Node)
            {
                var key = node.Domain.Length == 0 ? node.OpType : $"{node.Domain}.{node.OpType}";
                counts[key] = counts.GetValueOrDefault(key) + 1;
                foreach (var a in node.Attribute)
                    if (a.G is not null) Walk(a.G);
            }
        }
        Walk(Model.Graph);
        return counts;
    }

    /// <summary>Bytes of all initializers (weights and constants).</summary>
    public long InitializerBytes => Model.Graph.Initializer.Sum(t => (long)t.RawData.Length + t.DoubleData.Count * 8L);
}
