using BiVM.Estimators.Video;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BiVM.Estimators.MLNet;

/// <summary>
/// Estimator of the BiVM matting transform: an alpha matte and a foreground for every frame row, by a recurrent
/// matting network (BiVM, RVM or RVM-ReActNet, as an ONNX file) run by ONNX Runtime with the <c>ai.bivm</c> ops.
/// Made by <see cref="BiVMCatalog.ApplyBiVM(TransformsCatalog, BiVMOptions)"/>.
/// </summary>
/// <remarks>
/// <format type="text/markdown"><![CDATA[
/// ### Estimator characteristics
/// |  |  |
/// | -- | -- |
/// | Does this estimator need to look at the data to train its parameters? | No: `Fit` checks the columns and loads the model |
/// | Input column data type | An image of any size (`LoadImages`, `ResizeImages`); or a vector of `Byte` or `Single` with 3·W·H RGB values (`ExtractPixels`, raw RGB24), planar or interleaved (`BiVMOptions.PixelLayout`), scaled into 0..1 by `BiVMOptions.PixelScale` |
/// | Optional input | A `Boolean` new-stream column: true on the first frame of each video |
/// | Output columns | Alpha: vector of `Single`, H·W values in 0..1, row-major, dimensions [H, W]; Foreground: vector of `Single`, 3·H·W values in 0..1, planar RGB, dimensions [3, H, W]. Of variable size when the frame size is not known from the schema (images of any size) |
/// | Stateful | Yes: the rows of one cursor, or the `Predict` calls of one prediction engine, are one video, matted in order with the recurrent state carried |
/// | Exportable to ONNX | No (the model is already ONNX; for independent images, see `bivm export --still` and `ApplyOnnxModel` with `UseBiVMOps`) |
///
/// The outputs turn back into images with ML.NET's `ConvertToImage`: for the foreground,
/// `ConvertToImage(H, W, "ForegroundImage", "Foreground", scaleImage: 255f)`; for the alpha matte as a grey image,
/// concatenate the alpha column three times (`Concatenate("Grey", "Alpha", "Alpha", "Alpha")`) and convert that.
/// ]]></format>
/// </remarks>
public sealed class BiVMEstimator : IEstimator<BiVMTransformer>
{
    private readonly TransformsCatalog _catalog;

    internal BiVMEstimator(TransformsCatalog catalog, BiVMOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _catalog = catalog;
        Options = options;
        new VideoMatterOptions { DownsampleRatio = options.DownsampleRatio, IntraOpThreads = options.IntraOpThreads }.Validate();
        if (options.Width is <= 0 || options.Height is <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"BiVM: frame size must be positive, got {options.Width}×{options.Height}");
        if (options.PixelScale is { } scale && !(scale > 0f && float.IsFinite(scale)))
            throw new ArgumentOutOfRangeException(nameof(options), $"BiVM: PixelScale must be a positive number, got {scale}");
    }

    /// <summary>The options of this estimator.</summary>
    public BiVMOptions Options { get; }

    /// <summary>Checks the input columns, loads the model (a file that is not a matting model fails here, naming it) and returns the transformer.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The frame or new-stream column is missing or of the wrong type.</exception>
    /// <exception cref="BiVM.Contracts.UserInputException">The model file is missing or not a matting model.</exception>
    public BiVMTransformer Fit(IDataView input)
    {
        var frame = input.Schema.GetColumnOrNull(Options.InputColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(input), $"Schema mismatch for input column '{Options.InputColumnName}': column not found (columns: {string.Join(", ", input.Schema.Select(c => c.Name))})");
        var format = FrameFormat.Resolve(frame, Options);
        _ = new MattedSchema(input.Schema, Options, format);   // the new-stream column, checked before the model loads
        byte[] model = MattingSession.LoadModel(new VideoMatterOptions { ModelPath = Options.ModelPath });
        var blob = new ModelBlob(new BlobOptions(Options.ModelPath ?? DefaultModel.Name, format, Options.DownsampleRatio, Options.IntraOpThreads, Options), model);
        var session = new MattingSession(model, blob.Options.ModelName, Options.IntraOpThreads);
        try
        {
            return new BiVMTransformer(Options, new ModelSession(blob, session), SavedForm.Build(_catalog, input, Options, blob));
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>The input schema plus the alpha and foreground columns (vectors of Single).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The frame or new-stream column is missing or of the wrong type.</exception>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        var columns = inputSchema.GroupBy(c => c.Name).ToDictionary(g => g.Key, g => g.Last());
        if (!columns.TryGetValue(Options.InputColumnName, out var frame))
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"Schema mismatch for input column '{Options.InputColumnName}': column not found");
        FrameFormat.Check(frame);
        if (Options.NewStreamColumnName is { } name && (!columns.TryGetValue(name, out var stream) || stream.ItemType != BooleanDataViewType.Instance || stream.Kind != SchemaShape.Column.VectorKind.Scalar))
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"Schema mismatch for input column '{name}': expected Boolean (the new-stream column)");
        bool known = frame.ItemType is Microsoft.ML.Transforms.Image.ImageDataViewType { Width: > 0, Height: > 0 }
            || frame.Kind == SchemaShape.Column.VectorKind.Vector || Options.Width is not null && Options.Height is not null;
        // SchemaShape columns cannot be made outside ML.NET, and a shape records only kind and item type: public
        // transforms describe the two outputs, a known-size vector (Concatenate of a scalar) or a variable one.
        string helper = known ? ShapeHelper.Scalar : ShapeHelper.Variable;
        return _catalog.CustomMapping<NoColumns, ShapeHelper>((_, _) => { }, contractName: null)
            .Append(_catalog.Concatenate(Options.AlphaColumnName, helper))
            .Append(_catalog.Concatenate(Options.ForegroundColumnName, helper))
            .Append(_catalog.DropColumns(ShapeHelper.Scalar, ShapeHelper.Variable))
            .GetOutputSchema(inputSchema);
    }
}

/// <summary>Infrastructure of <see cref="BiVMEstimator.GetOutputSchema"/>: columns whose shapes the outputs copy.</summary>
[System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
public sealed class ShapeHelper
{
    internal const string Scalar = "__bivm_shape_scalar", Variable = "__bivm_shape_variable";

    /// <summary>A scalar: concatenated, a vector of known size.</summary>
    [ColumnName(Scalar)] public float ScalarValue { get; set; }

    /// <summary>A vector of variable size.</summary>
    [ColumnName(Variable)] [VectorType] public float[] VariableValue { get; set; } = [];
}
