namespace BiVM.Estimators.MLNet;

/// <summary>Options of <see cref="BiVMCatalog.ApplyBiVM(Microsoft.ML.TransformsCatalog, BiVMOptions)"/>.</summary>
public sealed record BiVMOptions
{
    /// <summary>A matting ONNX file (bivm, rvm or rvm-react); null for the default model shipped with BiVM.Estimators. Its bytes are stored in the fitted pipeline, so a saved pipeline does not depend on the file.</summary>
    public string? ModelPath { get; init; }

    /// <summary>The frame column: an <c>MLImage</c>, or a vector of bytes (interleaved RGB, 0..255) or floats (planar RGB, 0..1).</summary>
    public string InputColumnName { get; init; } = "Image";

    /// <summary>Frame size for byte/float vector columns (MLImage columns carry their own).</summary>
    public int? Width { get; init; }

    /// <summary>Frame size for byte/float vector columns.</summary>
    public int? Height { get; init; }

    /// <summary>Output: H·W floats in 0..1, row-major.</summary>
    public string AlphaColumnName { get; init; } = "Alpha";

    /// <summary>Output: 3·H·W floats in 0..1, planar RGB.</summary>
    public string ForegroundColumnName { get; init; } = "Foreground";

    /// <summary>Optional boolean column: true on the first row of a new stream (the recurrent state resets there).</summary>
    public string? NewStreamColumnName { get; init; }

    /// <summary>null for min(512 / max(H, W), 1).</summary>
    public float? DownsampleRatio { get; init; }

    /// <summary>ONNX Runtime intra-op threads (0: ONNX Runtime's default).</summary>
    public int IntraOpThreads { get; init; }
}
