namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>Element type, shape and data pointer of one OrtValue tensor (owned by ORT; valid during the callback).</summary>
internal readonly unsafe struct OrtTensorView(OrtElementType type, long[] dims, void* data)
{
    public OrtElementType Type { get; } = type;
    public long[] Dims { get; } = dims;
    public void* Data { get; } = data;

    public static OrtTensorView Read(nint value)
    {
        var (type, dims) = OrtApi.GetTensorTypeAndDimensions(value);
        return new OrtTensorView(type, dims, dims.Contains(0) ? null : OrtApi.GetTensorMutableData(value));
    }

    /// <summary>
    /// Constant input <paramref name="index"/> of a node being made (an initializer: weights, τ, α, …), read once when
    /// the session creates the kernel; <paramref name="name"/> names it in the one-line error where it is not constant.
    /// </summary>
    public static OrtTensorView Constant(nint info, int index, string name)
    {
        nint value = OrtApi.KernelInfoConstantInput(info, index);
        if (value == 0) throw new OpValidationException($"input {name} must be a constant initializer (it is read once when the session is created)");
        return Read(value);
    }

    /// <summary>
    /// Constant input <paramref name="index"/> holding C float32 values shaped [C], [C, 1, 1] or [1, C, 1, 1] (how the
    /// exporter writes per-channel parameters: RPReLU's, an InstanceNormalization's, the input normalization's), copied;
    /// with <paramref name="count"/>, C must be it. Anything else is one line naming the input.
    /// </summary>
    public static float[] ChannelConstant(nint info, int index, string name, int? count = null)
    {
        var t = Constant(info, index, name);
        var d = t.Dims;
        bool shaped = d.Length switch
        {
            1 => d[0] > 0,
            3 => d[0] > 0 && d[1] == 1 && d[2] == 1,
            4 => d[0] == 1 && d[1] > 0 && d[2] == 1 && d[3] == 1,
            _ => false,
        };
        if (t.Type != OrtElementType.Float || !shaped || count is { } c && t.ElementCount != c)
            throw new OpValidationException(count is { } n
                ? $"{name} must be float32 with {n} values ([{n}], [{n}, 1, 1] or [1, {n}, 1, 1]), got {TypeText(t.Type)} {t.Shape}"
                : $"{name} must be float32 [C], [C, 1, 1] or [1, C, 1, 1], got {TypeText(t.Type)} {t.Shape}");
        return t.Span<float>().ToArray();
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
