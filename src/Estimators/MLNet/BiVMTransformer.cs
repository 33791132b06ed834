using Microsoft.ML;
using Microsoft.ML.Data;

namespace BiVM.Estimators.MLNet;

/// <summary>
/// The fitted BiVM matting transform (<see cref="BiVMEstimator"/>): adds an alpha matte and a foreground column to
/// every frame row.
/// </summary>
/// <remarks>
/// <para><b>Streams.</b> The rows of one cursor (one <c>Transform</c> pass read to the end, or one prediction engine
/// across its <c>Predict</c> calls) are frames of one video: they are matted in order, the network's recurrent
/// state carried from each frame to the next. The state resets when the frame size changes, and on a row whose
/// new-stream column (<see cref="BiVMOptions.NewStreamColumnName"/>) is true. A cursor is never shuffled or split.</para>
/// <para><b>Resources.</b> The transformer holds one ONNX Runtime session, loaded once and shared by all its
/// cursors and prediction engines. Each cursor or engine holds its own stream state, released when the cursor is
/// disposed, or when the transformer is. <see cref="Dispose"/> releases the session and every open stream; the
/// transformer stays usable, and loads the session again when next used. Disposing a prediction engine disposes
/// its transformer unless <c>PredictionEngineOptions.OwnsTransformer</c> is false; ML.NET does not dispose an engine's
/// output row, so an engine that does not own the transformer keeps its stream until the transformer is disposed.</para>
/// <para><b>Saving.</b> <c>mlContext.Model.Save</c> writes the model bytes and the options into the zip, as a chain of
/// ML.NET's public transforms (ML.NET's save/load contexts are not public).
/// <see cref="BiVMCatalog.LoadWithBiVM(ModelOperationsCatalog, string, out DataViewSchema)"/> loads it back with this
/// transform a <see cref="BiVMTransformer"/> again, releasing what it holds as described above. Plain
/// <c>Model.Load</c> returns the chain itself, with the same results; ML.NET tells that chain neither when a cursor
/// ends nor when the chain goes, so its stream state and session are freed by the garbage collector, and its output
/// columns are vectors of variable size.</para>
/// </remarks>
public sealed class BiVMTransformer : ITransformer, IDisposable
{
    private readonly BiVMOptions _options;
    private readonly ModelSession _session;
    private readonly ITransformer _saved;

    internal BiVMTransformer(BiVMOptions options, ModelSession session, ITransformer saved)
    {
        _options = options;
        _session = session;
        _saved = saved;
    }

    /// <summary>The options the transform was fitted with.</summary>
    public BiVMOptions Options => _options;

    /// <summary>True: the transform maps each row by itself (with the state its stream carries).</summary>
    public bool IsRowToRowMapper => true;

    /// <summary>The input schema followed by the alpha and foreground columns.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The frame or new-stream column is missing or of the wrong type.</exception>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => Bind(inputSchema).Output;

    /// <summary>The mapper behind prediction engines: each row it makes is one stream.</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new MattedRowMapper(Bind(inputSchema), Format, _session);

    /// <summary>The input rows with alpha and foreground added; lazy, as every ML.NET transform.</summary>
    public IDataView Transform(IDataView input) => new MattedDataView(input, Bind(input.Schema), Format, _session);

    /// <summary>Releases the ONNX Runtime session and every open stream; the transformer loads them again if used.</summary>
    public void Dispose() => _session.Dispose();

    void ICanSaveModel.Save(ModelSaveContext ctx) => _saved.Save(ctx);

    private FrameFormat Format => _session.Blob.Options.Format;

    private MattedSchema Bind(DataViewSchema inputSchema) => new(inputSchema, _options, Format);
}
