using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using BiVM.Estimators.Video;

namespace BiVM.Estimators.MLNet;

/// <summary>
/// What a fitted BiVM transform must remember: the model bytes and the run options, in one byte
/// vector stored by a ValueMapping transform of the saved form (so ML.NET's own Save/Load keeps it).
/// Layout: "BIVM" magic, int32 version, int32 JSON length, JSON options, model bytes.
/// </summary>
internal sealed record ModelBlob(BlobOptions Options, byte[] Model)
{
    // 2: the frame format travels with the model; 3: and the options it was fitted with (LoadedModels rebinds them).
    private const int Version = 3;
    private static ReadOnlySpan<byte> Magic => "BIVM"u8;

    public byte[] ToBytes()
    {
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(Options);
        var bytes = new byte[12 + json.Length + Model.Length];
        Magic.CopyTo(bytes);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4), Version);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), json.Length);
        json.CopyTo(bytes, 12);
        Model.CopyTo(bytes, 12 + json.Length);
        return bytes;
    }

    public static ModelBlob Parse(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 12 || !bytes[..4].SequenceEqual(Magic))
            throw new InvalidDataException("BiVM: the stored model blob is not a BiVM blob");
        int version = BinaryPrimitives.ReadInt32LittleEndian(bytes[4..]);
        if (version is not (2 or Version)) throw new InvalidDataException($"BiVM: stored blob version {version}, this build reads 2 and {Version}");
        int jsonLength = BinaryPrimitives.ReadInt32LittleEndian(bytes[8..]);
        var options = JsonSerializer.Deserialize<BlobOptions>(bytes.Slice(12, jsonLength))
            ?? throw new InvalidDataException("BiVM: empty options in the stored blob");
        return new ModelBlob(options, bytes[(12 + jsonLength)..].ToArray());
    }
}

/// <summary>The run options that travel with the model; <paramref name="Fitted"/> is null in blobs of version 2.</summary>
internal sealed record BlobOptions(string ModelName, FrameFormat Format, float? DownsampleRatio, int IntraOpThreads, BiVMOptions? Fitted = null);
