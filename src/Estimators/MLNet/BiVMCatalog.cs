using BiVM.Estimators.Video;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Onnx;

namespace BiVM.Estimators.MLNet;

/// <summary>The BiVM entry points on ML.NET's catalogs.</summary>
public static class BiVMCatalog
{
    /// <summary>
    /// Mattes video frames: adds an alpha matte and a foreground column to every frame row, the rows of a cursor
    /// being one video (<see cref="BiVMEstimator"/> lists the column types and what is carried between rows).
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="options">Columns, model and frame format.</param>
    public static BiVMEstimator ApplyBiVM(this TransformsCatalog catalog, BiVMOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        VariableSizeImages.Register();
        return new(catalog, options);
    }

    /// <summary>Mattes video frames (<see cref="ApplyBiVM(TransformsCatalog, BiVMOptions)"/>) with default options but these.</summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="alphaColumnName">Output column: H·W alpha values in 0..1.</param>
    /// <param name="foregroundColumnName">Output column: 3·H·W planar RGB foreground values in 0..1.</param>
    /// <param name="inputColumnName">The frame column (<see cref="BiVMOptions.InputColumnName"/>).</param>
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

    /// <summary>
    /// Loads a pipeline saved with <c>mlContext.Model.Save</c>, as <c>Model.Load</c> does, with each BiVM transform in
    /// it a <see cref="BiVMTransformer"/> again: its cursors release their streams when disposed, and disposing the
    /// pipeline (or a prediction engine that owns it) releases the ONNX Runtime session, where the chain plain
    /// <c>Model.Load</c> returns leaves both to the garbage collector. The rest of the pipeline, its scopes and what
    /// <c>Model.Save</c> writes for it are unchanged.
    /// </summary>
    /// <param name="catalog">The model operations catalog (<c>mlContext.Model</c>).</param>
    /// <param name="filePath">The zip <c>Model.Save</c> wrote.</param>
    /// <param name="inputSchema">The input schema the pipeline was saved with.</param>
    /// <returns>The loaded pipeline; dispose it when done.</returns>
    /// <remarks>Pipelines saved before the fitted options were stored with the model (blob version 2) load as plain
    /// <c>Model.Load</c> loads them.</remarks>
    public static ITransformer LoadWithBiVM(this ModelOperationsCatalog catalog, string filePath, out DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return LoadedModels.Rebind(catalog.Load(filePath, out inputSchema));
    }

    /// <summary>Loads a pipeline from a stream; as <see cref="LoadWithBiVM(ModelOperationsCatalog, string, out DataViewSchema)"/>.</summary>
    /// <param name="catalog">The model operations catalog (<c>mlContext.Model</c>).</param>
    /// <param name="stream">The zip <c>Model.Save</c> wrote.</param>
    /// <param name="inputSchema">The input schema the pipeline was saved with.</param>
    /// <returns>The loaded pipeline; dispose it when done.</returns>
    public static ITransformer LoadWithBiVM(this ModelOperationsCatalog catalog, Stream stream, out DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return LoadedModels.Rebind(catalog.Load(stream, out inputSchema));
    }

    /// <summary>
    /// Makes ML.NET's own <c>ApplyOnnxModel</c> run BiVM's files: every ONNX Runtime session this context creates
    /// from now on (fitting, transforming, prediction engines, and loading saved pipelines) has the <c>ai.bivm</c>
    /// ops registered and full graph optimisation. Use it with a still file (<c>bivm export --still</c>) for
    /// independent images; for video, use <see cref="ApplyBiVM(TransformsCatalog, BiVMOptions)"/>, which carries the
    /// recurrent state. With this option set, ML.NET ignores its own thread and GPU settings for ONNX sessions.
    /// </summary>
    /// <param name="ml">The context.</param>
    /// <param name="intraOpThreads">ONNX Runtime intra-op threads; 0 for ONNX Runtime's default.</param>
    /// <returns>The same context.</returns>
    public static MLContext UseBiVMOps(this MLContext ml, int intraOpThreads = 0)
    {
        ArgumentNullException.ThrowIfNull(ml);
        ArgumentOutOfRangeException.ThrowIfNegative(intraOpThreads);
        ml.SetOnnxSessionOption(new OnnxSessionOptions { CreateSessionOptions = () => MattingSession.CreateSessionOptions(intraOpThreads) });
        return ml;
    }

}
