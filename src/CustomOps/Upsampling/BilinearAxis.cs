namespace BiVM.CustomOps.Upsampling;

/// <summary>
/// Where each output index of one axis samples its input under ONNX Runtime's Resize (mode linear,
/// coordinate_transformation_mode pytorch_half_pixel, output size given): the two input indices and their weights,
/// computed in float32 exactly as ORT's SetupUpsampleBilinear does (scale = output / input as float, source
/// coordinate (i + 0.5) / scale − 0.5, clamped to [0, input − 1]; one sample on the edge gets weight 0.5 twice).
/// One definition for both fused resizes: the DGF tail (<see cref="Create"/>) and the decoder's ×2 then crop
/// (<see cref="Doubled"/>).
/// </summary>
internal sealed class BilinearAxis
{
    /// <summary>The lower input index of each output index.</summary>
    public readonly int[] Low;

    /// <summary>The upper input index (Low + 1, or Low on the last input index).</summary>
    public readonly int[] High;

    /// <summary>Weight of the sample at Low (ORT's d2 = |x − High|) and at High (ORT's d1 = |x − Low|).</summary>
    public readonly float[] LowWeight, HighWeight;

    /// <summary>Length of the axis in the input (the working size).</summary>
    public int InputLength { get; }

    /// <summary>Length of the axis in the output (the frame, or the crop of the resized axis).</summary>
    public int OutputLength => Low.Length;

    /// <summary>The first <paramref name="output"/> samples of <paramref name="input"/> resized to <paramref name="resized"/>.</summary>
    private BilinearAxis(int input, int resized, int output)
    {
        InputLength = input;
        Low = new int[output];
        High = new int[output];
        LowWeight = new float[output];
        HighWeight = new float[output];
        float scale = (float)resized / input;
        for (int i = 0; i < output; i++)
        {
            // pytorch_half_pixel: a one-pixel output samples index 0; a scale of exactly 1 keeps the index.
            float x = scale == 1f ? i : resized > 1 ? (i + 0.5f) / scale - 0.5f : 0f;
            x = MathF.Max(0f, MathF.Min(x, input - 1));
            int low = Math.Min((int)x, input - 1);
            int high = Math.Min(low + 1, input - 1);
            Low[i] = low;
            High[i] = high;
            if (low == high)
            {
                LowWeight[i] = 0.5f;
                HighWeight[i] = 0.5f;
            }
            else
            {
                LowWeight[i] = MathF.Abs(x - high);
                HighWeight[i] = MathF.Abs(x - low);
            }
        }
    }

    /// <summary>The sampling of <paramref name="input"/> indices onto <paramref name="output"/> (both at least 1).</summary>
    public static BilinearAxis Create(int input, int output)
    {
        if (input < 1 || output < 1) throw new ArgumentOutOfRangeException(nameof(input), $"lengths must be at least 1, got {input} -> {output}");
        return new BilinearAxis(input, output, output);
    }

    /// <summary>
    /// An axis of <paramref name="input"/> ≥ 1 samples upsampled ×2 (scale exactly 2) and cropped to its first
    /// <paramref name="output"/> ≤ 2·input samples, as the decoder's Resize + Slice: output 2j + 1 and 2j + 2 read j and j + 1
    /// with weights ¾/¼ and ¼/¾ away from the borders.
    /// </summary>
    public static BilinearAxis Doubled(int input, int output)
    {
        if (input < 1 || output < 0 || output > 2L * input)
            throw new ArgumentOutOfRangeException(nameof(output), $"{output} outputs from {input} inputs (×2 then crop)");
        return new BilinearAxis(input, 2 * input, output);
    }
}
