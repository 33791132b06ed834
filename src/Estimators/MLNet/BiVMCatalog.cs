using Microsoft.ML;

namespace BiVM.Estimators.MLNet;

/// <summary><c>mlContext.Transforms.ApplyBiVM(...)</c>: alpha matte and foreground for every frame row.</summary>
public static class BiVMCatalog
{
    public static BiVMEstimator ApplyBiVM(this TransformsCatalog catalog, BiVMOptions options)
    {
        VariableSizeImages.Register();
        return new(catalog, options);
    }

    /// <param name="alphaColumnName">Output column: H·W alpha values in 0..1.</param>
    /// <param name="foregroundColumnName">Output column: 3·H·W planar RGB foreground in 0..1.</param>
    /// <param name="inputColumnName">The frame column (MLImage, or raw RGB bytes/floats with <see cref="BiVMOptions.Width"/>/<see cref="BiVMOptions.Height"/>).</param>
    /// <param name="modelPath">A matting ONNX file; null for the default model shipped with BiVM.</param>
    /// <param name="downsampleRatio">null for min(512 / max(H, W), 1).</param>
    public static BiVMEstimator ApplyBiVM(this TransformsCatalog catalog, string alphaColumnName = "Alpha", string foregroundColumnName = "Foreground",
        string inputColumnName = "Image", string? modelPath = null, float? downsampleRatio = null) =>
        ApplyBiVM(catalog, new BiVMOptions
        {
            AlphaColumnName = alphaColumnName,
            ForegroundColumnName = foregroundColumnName,
            InputColumnName = inputColumnName,
            ModelPath = modelPath,
            DownsampleRatio = downsampleRatio,
        });
}
