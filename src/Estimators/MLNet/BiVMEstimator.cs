using BiVM.Estimators.Video;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace BiVM.Estimators.MLNet;

/// <summary>
/// Estimator of the BiVM matting transform. <see cref="Fit"/> checks the input column and the model,
/// then composes public ML.NET transforms: constants, a value mapping that stores the model bytes and
/// options in the pipeline, a stateful custom mapping that mattes the rows of a cursor in order with
/// the recurrent state carried, and column copies/drops. Because only public transforms are used,
/// <c>mlContext.Model.Save</c>/<c>Load</c> round-trip the fitted pipeline exactly (register this
/// assembly with <c>mlContext.ComponentCatalog.RegisterAssembly</c> before loading in a new process).
/// </summary>
public sealed class BiVMEstimator : IEstimator<BiVMTransformer>
{
    private readonly TransformsCatalog _catalog;

    internal BiVMEstimator(TransformsCatalog catalog, BiVMOptions options)
    {
        _catalog = catalog;
        Options = options;
        new VideoMatterOptions { DownsampleRatio = options.DownsampleRatio, IntraOpThreads = options.IntraOpThreads }.Validate();
        if (options.Width is <= 0 || options.Height is <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"BiVM: frame size must be positive, got {options.Width}×{options.Height}");
    }

    public BiVMOptions Options { get; }

    public BiVMTransformer Fit(IDataView input)
    {
        var kind = FrameKind(input.Schema);
        CheckStreamColumn(input.Schema);
        byte[] model = MattingSession.LoadModel(new VideoMatterOptions { ModelPath = Options.ModelPath });
        string modelName = Options.ModelPath ?? DefaultModel.Name;
        using (new MattingSession(model, modelName, 1)) { }   // a bad model fails here, naming the file
        var blob = new ModelBlob(new BlobOptions(modelName, Options.Width, Options.Height, Options.DownsampleRatio, Options.IntraOpThreads), model).ToBytes();

        var pipeline = BuildPipeline(kind, blob);
        return new BiVMTransformer(pipeline.Fit(input));
    }

    /// <summary>The input schema plus the alpha and foreground columns (variable-size Single vectors).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        var column = inputSchema.FirstOrDefault(c => c.Name == Options.InputColumnName);
        if (column.Name is null)
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"BiVM: input column '{Options.InputColumnName}' not found");
        var kind = column.ItemType is ImageDataViewType ? FrameColumnKind.Image
            : column.Kind != SchemaShape.Column.VectorKind.Scalar && column.ItemType == NumberDataViewType.Byte ? FrameColumnKind.Rgb24
            : column.Kind != SchemaShape.Column.VectorKind.Scalar && column.ItemType == NumberDataViewType.Single ? FrameColumnKind.PlanarFloat
            : throw new ArgumentOutOfRangeException(nameof(inputSchema), $"BiVM: input column '{Options.InputColumnName}' has type {column.ItemType}; expected an MLImage, or a vector of Byte or Single");
        // The composed pipeline describes its own output; the model blob plays no part in the schema.
        return BuildPipeline(kind, []).GetOutputSchema(inputSchema);
    }

    private IEstimator<ITransformer> BuildPipeline(FrameColumnKind kind, byte[] blob)
    {
        IEstimator<ITransformer> pipeline = _catalog.CustomMapping<NoColumns, ConstantColumns>(Contracts.Constant, Contracts.Constants)
            .Append(_catalog.Conversion.MapValue(Columns.Model, new[] { new KeyValuePair<string, byte[]>(Columns.KeyValue, blob) }, Columns.Key))
            .Append(_catalog.CopyColumns(Columns.Frame, Options.InputColumnName));
        if (Options.NewStreamColumnName is { } stream) pipeline = pipeline.Append(_catalog.CopyColumns(Columns.NewStream, stream));
        pipeline = kind switch
        {
            FrameColumnKind.Image => pipeline.Append(Matte(new ImageMatteFactory(), Contracts.Image)),
            FrameColumnKind.Rgb24 => pipeline.Append(Matte(new Rgb24MatteFactory(), Contracts.Bytes)),
            _ => pipeline.Append(Matte(new PlanarFloatMatteFactory(), Contracts.Floats)),
        };
        return pipeline
            .Append(_catalog.CopyColumns(Options.AlphaColumnName, Columns.Alpha))
            .Append(_catalog.CopyColumns(Options.ForegroundColumnName, Columns.Foreground))
            .Append(_catalog.DropColumns(Columns.All));
    }

    private IEstimator<ITransformer> Matte<TRow>(MatteFactory<TRow> factory, string contract) where TRow : class, IFrameRow, new() =>
        _catalog.StatefulCustomMapping(factory.GetMapping(), factory.GetStateInitAction(), contract);

    private FrameColumnKind FrameKind(DataViewSchema schema)
    {
        var column = schema.GetColumnOrNull(Options.InputColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(schema), $"BiVM: input column '{Options.InputColumnName}' not found (columns: {string.Join(", ", schema.Select(c => c.Name))})");
        if (column.Type is ImageDataViewType) return FrameColumnKind.Image;
        if (column.Type is VectorDataViewType vector)
        {
            if (vector.ItemType == NumberDataViewType.Byte) return CheckRawSize(FrameColumnKind.Rgb24);
            if (vector.ItemType == NumberDataViewType.Single) return CheckRawSize(FrameColumnKind.PlanarFloat);
        }
        throw new ArgumentOutOfRangeException(nameof(schema), $"BiVM: input column '{Options.InputColumnName}' has type {column.Type}; expected an MLImage, a vector of Byte (interleaved RGB) or a vector of Single (planar RGB in 0..1)");
    }

    private FrameColumnKind CheckRawSize(FrameColumnKind kind)
    {
        if (Options.Width is null || Options.Height is null)
            throw new ArgumentException($"BiVM: column '{Options.InputColumnName}' holds raw pixels: set BiVMOptions.Width and Height");
        return kind;
    }

    private void CheckStreamColumn(DataViewSchema schema)
    {
        if (Options.NewStreamColumnName is not { } name) return;
        var column = schema.GetColumnOrNull(name)
            ?? throw new ArgumentOutOfRangeException(nameof(schema), $"BiVM: new-stream column '{name}' not found");
        if (column.Type != BooleanDataViewType.Instance)
            throw new ArgumentOutOfRangeException(nameof(schema), $"BiVM: new-stream column '{name}' has type {column.Type}; expected Boolean");
    }

    private enum FrameColumnKind { Image, Rgb24, PlanarFloat }
}
