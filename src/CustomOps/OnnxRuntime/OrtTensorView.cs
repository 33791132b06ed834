namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>Element type, shape and data pointer of one OrtValue tensor (owned by ORT; valid during the callback).</summary>
internal readonly unsafe struct OrtTensorView(OrtElementType type, long[] dims, void* data)
{
    public OrtElementType Type { get; } = type;
    public long[] Dims { get; } = dims;
    public void* Data { get; } = data;

    public static OrtTensorView Read(nint value)
    {
        nint info = OrtApi.GetTensorTypeAndShape(value);
        try
        {
            var type = OrtApi.GetElementType(info);
            var dims = OrtApi.GetDimensions(info);
            return new OrtTensorView(type, dims, dims.Contains(0) ? null : OrtApi.GetTensorMutableData(value));
        }
        finally { OrtApi.ReleaseTensorTypeAndShapeInfo(info); }
    }

    public long ElementCount => Dims.Aggregate(1L, (a, d) => a * d);

    public static string ShapeText(IEnumerable<long> dims) => "[" + string.Join(", ", dims.Select(d => d < 0 ? "?" : d.ToString())) + "]";

    public string Shape => ShapeText(Dims);

    public static string TypeText(OrtElementType type) => type switch
    {
        OrtElementType.Float => "float32",
        OrtElementType.UInt8 => "uint8",
        OrtElementType.Int8 => "int8",
        OrtElementType.Int32 => "int32",
        OrtElementType.Int64 => "int64",
        OrtElementType.Bool => "bool",
        OrtElementType.Double => "float64",
        OrtElementType.UInt64 => "uint64",
        _ => $"element type {(int)type}",
    };

    public ReadOnlySpan<T> Span<T>() where T : unmanaged => new(Data, checked((int)ElementCount));
}
