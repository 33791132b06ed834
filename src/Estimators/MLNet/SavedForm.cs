using BiVM.Estimators.Video;
using System.ComponentModel;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace BiVM.Estimators.MLNet;

/// <summary>
/// What <c>mlContext.Model.Save</c> writes for a BiVM transform, and what <c>Model.Load</c> gives back. ML.NET's
/// save/load contexts are not public, so the saved form is a chain of public transforms:
/// <list type="number">
/// <item>a stateful custom mapping that puts the key "model" in a helper column on the first row of each cursor
/// (and an empty key on the others);</item>
/// <item>a value mapping from that key to the model bytes and options (<see cref="ModelBlob"/>): the bytes are
/// stored in the zip, and copied out once per cursor, on its first row (a missing key maps to an empty value);</item>
/// <item>column copies to the fixed helper names the custom mappings bind to (ML.NET stores a custom mapping by
/// contract name only, not its column renames);</item>
/// <item>the stateful custom mapping that mattes (<see cref="MatteFactory{TRow}"/>), then copies and drops.</item>
/// </list>
/// Only a chain loaded with plain <c>Model.Load</c> runs this form; a fitted <see cref="BiVMTransformer"/>, or one
/// <see cref="LoadedModels"/> rebinds from this form, runs its own cursors.
/// </summary>
internal static class SavedForm
{
    public const string Key = "__bivm_key";
    public const string Model = "__bivm_model";
    public const string NewStream = "__bivm_new";
    public const string Frame = "__bivm_frame";
    public const string Alpha = "__bivm_alpha";
    public const string Foreground = "__bivm_fgr";
    public const string KeyValue = "model";
    private static readonly string[] Helpers = [Key, Model, NewStream, Frame, Alpha, Foreground];

    // Contract names: ML.NET finds each factory again at load time by these (and this assembly's name).
    public const string ConstantsContract = "BiVM.Constants.v2";
    public const string ImageContract = "BiVM.MatteImage.v2";
    public const string BytesContract = "BiVM.MatteBytes.v2";
    public const string FloatsContract = "BiVM.MatteFloats.v2";

    /// <summary>The chain for <paramref name="input"/>, fitted.</summary>
    public static ITransformer Build(TransformsCatalog catalog, IDataView input, BiVMOptions options, ModelBlob blob)
    {
        IEstimator<ITransformer> prefix = catalog.StatefulCustomMapping<NoColumns, ConstantColumns, FirstRowState>(Constants, _ => { }, ConstantsContract)
            .Append(catalog.Conversion.MapValue(Model, new[] { new KeyValuePair<string, byte[]>(KeyValue, blob.ToBytes()) }, Key))
            .Append(catalog.CopyColumns(Frame, options.InputColumnName));
        if (options.NewStreamColumnName is { } stream) prefix = prefix.Append(catalog.CopyColumns(NewStream, stream));
        var fittedPrefix = prefix.Fit(input);
        // The matte mapping is fitted on an empty view of its own row type: ML.NET's estimator check compares image
        // types by reference, so any image column but the registered one would fail it. At run time ML.NET binds
        // columns by raw type (MLImage), which every image column has.
        var matte = blob.Options.Format.Kind switch
        {
            FrameKind.Image => Matte<ImageFrameRow>(catalog, new ImageMatteFactory(), ImageContract),
            FrameKind.Bytes => Matte<ByteFrameRow>(catalog, new BytesMatteFactory(), BytesContract),
            _ => Matte<FloatFrameRow>(catalog, new FloatsMatteFactory(), FloatsContract),
        };
        var matted = matte.Transform(fittedPrefix.Transform(input));
        var suffix = catalog.CopyColumns(options.AlphaColumnName, Alpha)
            .Append(catalog.CopyColumns(options.ForegroundColumnName, Foreground))
            .Append(catalog.DropColumns(Helpers))
            .Fit(matted);
        return new TransformerChain<ITransformer>(fittedPrefix, matte, suffix);
    }

    private static ITransformer Matte<TRow>(TransformsCatalog catalog, MatteFactory<TRow> factory, string contract) where TRow : class, IFrameRow, new()
    {
        VariableSizeImages.Register();
        // A catalog does not expose its context; a schema-only view from a throwaway one serves the same check.
        var empty = new MLContext().Data.LoadFromEnumerable(Array.Empty<TRow>());
        return catalog.StatefulCustomMapping(factory.GetMapping(), factory.GetStateInitAction(), contract).Fit(empty);
    }

    /// <summary>
    /// The model blob of <paramref name="parts"/> when they are this saved form as <c>Model.Load</c> gives it back
    /// (prefix chain, matte mapping, suffix chain) and the blob records the fitted options; null otherwise. The
    /// blob is read by running the prefix's value mapping on its one key.
    /// </summary>
    public static ModelBlob? Recognize(IReadOnlyList<ITransformer> parts)
    {
        if (parts.Count != 3 || parts[0] is not TransformerChain<ITransformer> prefix || parts[2] is not TransformerChain<ITransformer>
            || parts[1] is not (StatefulCustomMappingTransformer<ImageFrameRow, MatteRow, MatterState>
                or StatefulCustomMappingTransformer<ByteFrameRow, MatteRow, MatterState>
                or StatefulCustomMappingTransformer<FloatFrameRow, MatteRow, MatterState>))
            return null;
        if (prefix.OfType<ValueMappingTransformer>().FirstOrDefault() is not { } values) return null;
        var keys = values.Transform(new MLContext().Data.LoadFromEnumerable(new[] { new ModelKeyRow { Key = KeyValue } }));
        var column = keys.Schema[Model];
        using var cursor = keys.GetRowCursor([column]);
        var getter = cursor.GetGetter<VBuffer<byte>>(column);
        VBuffer<byte> bytes = default;
        if (!cursor.MoveNext()) return null;
        getter(ref bytes);
        var blob = ModelBlob.Parse(bytes.DenseValues().ToArray());
        return blob.Options.Fitted is null ? null : blob;
    }

    /// <summary>The key on the first row a cursor serves, then none: the value mapping copies the bytes once.</summary>
    public static void Constants(NoColumns _, ConstantColumns dst, FirstRowState state)
    {
        dst.Key = state.Served ? "" : KeyValue;
        dst.NewStream = false;
        state.Served = true;
    }
}

// The row and state types below are public only because ML.NET's custom mappings bind to public members.

/// <summary>Infrastructure of the saved form; not for direct use.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class NoColumns;

/// <summary>Infrastructure of the saved form; not for direct use.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class ConstantColumns
{
    /// <summary>The model key, on a cursor's first row only.</summary>
    [ColumnName(SavedForm.Key)] public string Key { get; set; } = "";

    /// <summary>False: the default of the new-stream column when the options name none.</summary>
    [ColumnName(SavedForm.NewStream)] public bool NewStream { get; set; }
}

/// <summary>Infrastructure of the saved form: the key the stored model blob is found by.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class ModelKeyRow
{
    /// <summary>The key.</summary>
    [ColumnName(SavedForm.Key)] public string Key { get; set; } = "";
}

/// <summary>Infrastructure of the saved form; not for direct use.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class FirstRowState
{
    /// <summary>Whether the cursor has served a row.</summary>
    public bool Served { get; set; }
}

/// <summary>Infrastructure of the saved form: what every frame row carries besides the frame.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public interface IFrameRow
{
    /// <summary>The stored model blob on a cursor's first row; empty on the others.</summary>
    byte[] Model { get; }

    /// <summary>True on the first row of a new stream.</summary>
    bool NewStream { get; }
}

/// <summary>Infrastructure of the saved form; not for direct use.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class ImageFrameRow : IFrameRow
{
    /// <summary>The frame.</summary>
    [ColumnName(SavedForm.Frame)] public MLImage? Frame { get; set; }

    /// <inheritdoc/>
    [ColumnName(SavedForm.Model)] [VectorType] public byte[] Model { get; set; } = [];

    /// <inheritdoc/>
    [ColumnName(SavedForm.NewStream)] public bool NewStream { get; set; }
}

/// <summary>Infrastructure of the saved form; not for direct use.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class ByteFrameRow : IFrameRow
{
    /// <summary>The frame's pixel values.</summary>
    [ColumnName(SavedForm.Frame)] [VectorType] public byte[] Frame { get; set; } = [];

    /// <inheritdoc/>
    [ColumnName(SavedForm.Model)] [VectorType] public byte[] Model { get; set; } = [];

    /// <inheritdoc/>
    [ColumnName(SavedForm.NewStream)] public bool NewStream { get; set; }
}

/// <summary>Infrastructure of the saved form; not for direct use.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class FloatFrameRow : IFrameRow
{
    /// <summary>The frame's pixel values.</summary>
    [ColumnName(SavedForm.Frame)] [VectorType] public float[] Frame { get; set; } = [];

    /// <inheritdoc/>
    [ColumnName(SavedForm.Model)] [VectorType] public byte[] Model { get; set; } = [];

    /// <inheritdoc/>
    [ColumnName(SavedForm.NewStream)] public bool NewStream { get; set; }
}

/// <summary>Infrastructure of the saved form: the matted outputs.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class MatteRow
{
    /// <summary>H·W alpha values.</summary>
    [ColumnName(SavedForm.Alpha)] [VectorType] public float[] Alpha { get; set; } = [];

    /// <summary>3·H·W planar RGB foreground values.</summary>
    [ColumnName(SavedForm.Foreground)] [VectorType] public float[] Foreground { get; set; } = [];
}

/// <summary>Infrastructure of the saved form: one cursor's stream.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class MatterState
{
    internal FrameStream? Stream { get; set; }
}

/// <summary>Infrastructure of the saved form: the constants mapping, found again by contract name at load time.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
[CustomMappingFactoryAttribute(SavedForm.ConstantsContract)]
public sealed class ConstantsFactory : StatefulCustomMappingFactory<NoColumns, ConstantColumns, FirstRowState>
{
    /// <inheritdoc/>
    public override Action<NoColumns, ConstantColumns, FirstRowState> GetMapping() => SavedForm.Constants;

    /// <inheritdoc/>
    public override Action<FirstRowState> GetStateInitAction() => _ => { };
}

/// <summary>
/// Infrastructure of the saved form: the mapping shared by the three frame kinds (only reading the frame differs).
/// ML.NET calls <see cref="GetMapping"/> once for each transformer it makes, so the session loaded from the blob on
/// the first row is shared by every cursor of that transformer. ML.NET tells a custom mapping neither when a
/// cursor ends nor when the transformer goes: each cursor's stream is freed by its finalizer, and the session
/// with the loaded transformer. <see cref="BiVMCatalog.LoadWithBiVM(ModelOperationsCatalog, string, out DataViewSchema)"/>
/// avoids both by not running this mapping.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public abstract class MatteFactory<TRow> : StatefulCustomMappingFactory<TRow, MatteRow, MatterState>
    where TRow : class, IFrameRow, new()
{
    private protected abstract MatteFrame Matte(TRow row, FrameFormat format, FrameStream stream);

    /// <inheritdoc/>
    public override Action<TRow, MatteRow, MatterState> GetMapping()
    {
        ModelSession? session = null;
        var gate = new Lock();
        return (src, dst, state) =>
        {
            if (state.Stream is null)
            {
                lock (gate) session ??= new ModelSession(ModelBlob.Parse(src.Model));
                state.Stream = session.Open();
            }
            var frame = Matte(src, session!.Blob.Options.Format, state.Stream);
            dst.Alpha = frame.Alpha;
            dst.Foreground = frame.Foreground;
        };
    }

    /// <inheritdoc/>
    public override Action<MatterState> GetStateInitAction() => _ => { };
}

/// <summary>Infrastructure of the saved form: image frames.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
[CustomMappingFactoryAttribute(SavedForm.ImageContract)]
public sealed class ImageMatteFactory : MatteFactory<ImageFrameRow>
{
    // A pipeline loaded from disk reaches this factory without ApplyBiVM having run.
    static ImageMatteFactory() => VariableSizeImages.Register();

    private protected override MatteFrame Matte(ImageFrameRow row, FrameFormat format, FrameStream stream) =>
        ImagePixels.Matte(stream, row.Frame ?? throw new ArgumentException("BiVM: a row of the image column holds no image"), row.NewStream);
}

/// <summary>Infrastructure of the saved form: byte vector frames.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
[CustomMappingFactoryAttribute(SavedForm.BytesContract)]
public sealed class BytesMatteFactory : MatteFactory<ByteFrameRow>
{
    private protected override MatteFrame Matte(ByteFrameRow row, FrameFormat format, FrameStream stream) =>
        format.Matte<byte>(stream, row.Frame, SavedForm.Frame, row.NewStream);
}

/// <summary>Infrastructure of the saved form: float vector frames.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
[CustomMappingFactoryAttribute(SavedForm.FloatsContract)]
public sealed class FloatsMatteFactory : MatteFactory<FloatFrameRow>
{
    private protected override MatteFrame Matte(FloatFrameRow row, FrameFormat format, FrameStream stream) =>
        format.Matte<float>(stream, row.Frame, SavedForm.Frame, row.NewStream);
}
