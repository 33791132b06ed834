using System.Security.Cryptography;
using System.Text;

namespace BiVM.Contracts;

/// <summary>What <see cref="ModelChecksum.Check"/> found in a model file.</summary>
public enum ChecksumStatus
{
    /// <summary>The file carries a checksum and its content matches it.</summary>
    Verified,

    /// <summary>The file carries no checksum (written by another tool, or by an exporter older than the checksum).</summary>
    Absent,

    /// <summary>The file carries a checksum that its content does not match: it was modified or damaged after export.</summary>
    Mismatch,

    /// <summary>The bytes are not a protobuf message at all (truncated, garbage), so they cannot be an ONNX model.</summary>
    Malformed,
}

/// <summary>
/// The integrity checksum of an ONNX model file: SHA-256 over the raw bytes of every top-level field of the
/// <c>ModelProto</c> except <c>metadata_props</c> (field 14), in file order, stored as one more <c>metadata_props</c>
/// entry, <see cref="Key"/> = lowercase hex. So the hash covers the graph (nodes, initializers, attributes, inputs,
/// outputs), the opset imports, the IR version and the producer; the free-text metadata is left out because the
/// checksum itself lives there.
/// </summary>
/// <remarks>
/// Why raw bytes and not a re-serialised message: the hash must be computable without an ONNX/protobuf library
/// (the loader in BiVM.Estimators has none) and must not depend on how a serialiser orders or encodes fields. Why
/// append: a protobuf message may carry its fields in any order, so appending one entry to the file is a valid ONNX
/// model whose other bytes are unchanged; <see cref="Stamp"/> of a file without a checksum is a pure append.
/// The checksum detects damage and edits (flipped bits, a truncated copy, a swapped weight); it is not a signature:
/// whoever edits a file can stamp it again.
/// </remarks>
public static class ModelChecksum
{
    /// <summary>The <c>metadata_props</c> key that holds the checksum.</summary>
    public const string Key = "bivm.sha256";

    private const int MetadataPropsField = 14;
    private const int EntryKeyField = 1, EntryValueField = 2;
    private const int WireVarint = 0, WireFixed64 = 1, WireLengthDelimited = 2, WireFixed32 = 5;

    /// <summary>Whether <paramref name="model"/> carries a checksum and whether its content matches it.</summary>
    public static ChecksumStatus Check(ReadOnlySpan<byte> model)
    {
        if (!TryScan(model, out var fields)) return ChecksumStatus.Malformed;
        string? stored = null;
        foreach (var field in fields)
            if (field.Number == MetadataPropsField && ReadEntry(model.Slice(field.PayloadStart, field.PayloadLength)) is (Key, var value))
            {
                if (stored is not null) return ChecksumStatus.Mismatch;   // two checksums: someone appended a second one
                stored = value;
            }
        if (stored is null) return ChecksumStatus.Absent;
        return string.Equals(stored, Compute(model, fields), StringComparison.Ordinal) ? ChecksumStatus.Verified : ChecksumStatus.Mismatch;
    }

    /// <summary>
    /// The model with its checksum: any checksum entry it had is dropped and a new one appended; every other byte is
    /// kept as it was. Throws <see cref="UserInputException"/> when the bytes are not a protobuf message.
    /// </summary>
    public static byte[] Stamp(ReadOnlySpan<byte> model)
    {
        if (!TryScan(model, out var fields)) throw new UserInputException("not a loadable ONNX model: its bytes do not parse as a protobuf message (truncated, or not a model file)");
        var output = new MemoryStream(model.Length + 96);
        foreach (var field in fields)
            if (!(field.Number == MetadataPropsField && ReadEntry(model.Slice(field.PayloadStart, field.PayloadLength)) is (Key, _)))
                output.Write(model.Slice(field.Start, field.PayloadStart + field.PayloadLength - field.Start));
        string hash = Compute(model, fields);
        var entry = new MemoryStream();
        WriteString(entry, EntryKeyField, Key);
        WriteString(entry, EntryValueField, hash);
        WriteVarint(output, (MetadataPropsField << 3) | WireLengthDelimited);
        WriteVarint(output, (ulong)entry.Length);
        entry.WriteTo(output);
        return output.ToArray();
    }

    /// <summary>The checksum the file's content should carry (lowercase hex), or null when the bytes are not a protobuf message.</summary>
    public static string? ComputeFor(ReadOnlySpan<byte> model) => TryScan(model, out var fields) ? Compute(model, fields) : null;

    private static string Compute(ReadOnlySpan<byte> model, List<Field> fields)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var field in fields)
            if (field.Number != MetadataPropsField)
                sha.AppendData(model.Slice(field.Start, field.PayloadStart + field.PayloadLength - field.Start));
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>One top-level field: where its tag starts, and its payload (for varints and fixed fields: the value bytes).</summary>
    private readonly record struct Field(int Number, int Wire, int Start, int PayloadStart, int PayloadLength);

    /// <summary>Splits the top level of a protobuf message into fields; false when the bytes are not one (a field runs past the end, a bad tag).</summary>
    private static bool TryScan(ReadOnlySpan<byte> data, out List<Field> fields)
    {
        fields = [];
        int position = 0;
        while (position < data.Length)
        {
            int start = position;
            if (!TryReadVarint(data, ref position, out ulong tag)) return false;
            ulong number = tag >> 3;
            int wire = (int)(tag & 7);
            if (number == 0 || number > int.MaxValue) return false;
            int payloadStart = position;
            long length;
            switch (wire)
            {
                case WireVarint:
                    if (!TryReadVarint(data, ref position, out _)) return false;
                    length = position - payloadStart;
                    break;
                case WireFixed64: length = 8; break;
                case WireFixed32: length = 4; break;
                case WireLengthDelimited:
                    if (!TryReadVarint(data, ref position, out ulong declared) || declared > int.MaxValue) return false;
                    payloadStart = position;
                    length = (long)declared;
                    break;
                default: return false;   // groups (3, 4) are not used by ONNX; 6 and 7 do not exist
            }
            if (payloadStart + length > data.Length) return false;
            position = payloadStart + (int)length;
            fields.Add(new Field((int)number, wire, start, payloadStart, (int)length));
        }
        return fields.Count > 0;
    }

    /// <summary>The key and value of a StringStringEntryProto, or null when the payload is not one.</summary>
    private static (string Key, string Value)? ReadEntry(ReadOnlySpan<byte> payload)
    {
        if (!TryScan(payload, out var fields)) return null;
        string key = "", value = "";
        foreach (var field in fields)
        {
            if (field.Wire != WireLengthDelimited) continue;
            var text = payload.Slice(field.PayloadStart, field.PayloadLength);
            if (field.Number == EntryKeyField) key = Encoding.UTF8.GetString(text);
            else if (field.Number == EntryValueField) value = Encoding.UTF8.GetString(text);
        }
        return (key, value);
    }

    private static bool TryReadVarint(ReadOnlySpan<byte> data, ref int position, out ulong value)
    {
        value = 0;
        for (int shift = 0; shift < 64 && position < data.Length; shift += 7)
        {
            byte b = data[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return true;
        }
        return false;
    }

    private static void WriteVarint(Stream stream, ulong value)
    {
        while (value >= 0x80)
        {
            stream.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        stream.WriteByte((byte)value);
    }

    private static void WriteString(Stream stream, int field, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        WriteVarint(stream, (ulong)((field << 3) | WireLengthDelimited));
        WriteVarint(stream, (ulong)bytes.Length);
        stream.Write(bytes);
    }
}
