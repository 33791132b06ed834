using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace BiVM.Graph;

/// <summary>
/// TensorProto factories (data goes into raw_data, little-endian, as the ONNX spec requires) and readers of an
/// initializer's values from either raw_data or the typed field.
/// </summary>
public static class Tensors
{
    public static TensorProto Float(string name, ReadOnlySpan<float> data, params long[] dims) => Raw(name, TensorProto.Types.DataType.Float, MemoryMarshal.AsBytes(data), data.Length, dims);

    public static TensorProto UInt64(string name, ReadOnlySpan<ulong> data, params long[] dims) => Raw(name, TensorProto.Types.DataType.Uint64, MemoryMarshal.AsBytes(data), data.Length, dims);

    public static TensorProto Int64(string name, ReadOnlySpan<long> data, params long[] dims) => Raw(name, TensorProto.Types.DataType.Int64, MemoryMarshal.AsBytes(data), data.Length, dims);

    public static TensorProto UInt8(string name, ReadOnlySpan<byte> data, params long[] dims) => Raw(name, TensorProto.Types.DataType.Uint8, data, data.Length, dims);

    public static TensorProto Bool(string name, ReadOnlySpan<bool> data, params long[] dims) => Raw(name, TensorProto.Types.DataType.Bool, MemoryMarshal.AsBytes(data), data.Length, dims);

    private static TensorProto Raw(string name, TensorProto.Types.DataType type, ReadOnlySpan<byte> bytes, int count, long[] dims)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("raw_data is little-endian; big-endian hosts are not supported");
        long expected = dims.Aggregate(1L, (a, d) => a * d);
        if (expected != count) throw new ArgumentException($"tensor '{name}' has {count} values but shape [{string.Join(", ", dims)}] holds {expected}");
        var t = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        return t;
    }

    /// <summary>The values of a float32 tensor, or null for another type.</summary>
    public static float[]? FloatValues(TensorProto t) => t.DataType != (int)TensorProto.Types.DataType.Float ? null
        : t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray() : [.. t.FloatData];

    /// <summary>The values of an int64 tensor, or null for another type.</summary>
    public static long[]? Int64Values(TensorProto t) => t.DataType != (int)TensorProto.Types.DataType.Int64 ? null
        : t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, long>(t.RawData.Span).ToArray() : [.. t.Int64Data];

    /// <summary>Whether a tensor is float32 with exactly one value (a scalar however it is shaped).</summary>
    public static bool IsFloatScalar(TensorProto t) => t.DataType == (int)TensorProto.Types.DataType.Float && t.Dims.Aggregate(1L, (a, d) => a * d) == 1;
}
