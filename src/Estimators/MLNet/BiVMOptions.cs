namespace BiVM.Estimators.MLNet;

/// <summary>Options of <see cref="BiVMCatalog.ApplyBiVM(Microsoft.ML.TransformsCatalog, BiVMOptions)"/>.</summary>
public sealed record BiVMOptions
{
    /// <summary>A matting ONNX file (bivm, rvm or rvm-react); null for the default model shipped with BiVM.Estimators. Its bytes are stored in a saved pipeline, so the saved pipeline does not depend on the file.</summary>
    public string? ModelPath { get; init; }

    /// <summary>
    /// The frame column: an image of any size (<c>LoadImages</c>, <c>ResizeImages</c>), or a vector of Byte or Single
    /// holding 3·W·H RGB values (<c>ExtractPixels</c>, raw RGB24 bytes). Default "Image".
    /// </summary>
    public string InputColumnName { get; init; } = "Image";

    /// <summary>Frame width of a vector column whose type does not state it (ExtractPixels' output states it); ignored for images.</summary>
    public int? Width { get; init; }

    /// <summary>Frame height of a vector column whose type does not state it; ignored for images.</summary>
    public int? Height { get; init; }

    /// <summary>
    /// Layout of a vector column. null: from the column's dimensions where ExtractPixels states them ([3, H, W] planar,
    /// [H, W, 3] interleaved), otherwise interleaved for bytes and planar for floats.
    /// </summary>
    public PixelLayout? PixelLayout { get; init; }

    /// <summary>
    /// What a vector column's values are multiplied by to lie in 0..1. null: 1/255 for bytes, 1 for floats. ExtractPixels
    /// outputs 0..255 by default: give 1f / 255 for its output, or 1 if it was called with <c>scaleImage: 1f / 255</c>.
    /// </summary>
    public float? PixelScale { get; init; }

    /// <summary>Output: H·W floats in 0..1, row-major. Default "Alpha".</summary>
    public string AlphaColumnName { get; init; } = "Alpha";

    /// <summary>Output: 3·H·W floats in 0..1, planar RGB. Default "Foreground".</summary>
    public string ForegroundColumnName { get; init; } = "Foreground";

    /// <summary>Optional Boolean column: true on the first row of a new video (the recurrent state resets there).</summary>
    public string? NewStreamColumnName { get; init; }

    /// <summary>The network runs at (H·r, W·r) and the guided filter refines back to (H, W); null for min(512 / max(H, W), 1).</summary>
    public float? DownsampleRatio { get; init; }

    /// <summary>ONNX Runtime intra-op threads (0: ONNX Runtime's default).</summary>
    public int IntraOpThreads { get; init; }
}
