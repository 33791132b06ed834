using Microsoft.ML;
using Microsoft.ML.Data;

namespace BiVM.Estimators.MLNet;

/// <summary>
/// The fitted BiVM transform: the composed pipeline of <see cref="BiVMEstimator"/>. Rows of one
/// cursor (one <c>Transform</c> pass, or one prediction engine) are one stream, matted in order with
/// the recurrent state carried; the state resets when the frame size changes and on rows whose
/// new-stream column is true.
/// </summary>
public sealed class BiVMTransformer : ITransformer
{
    internal BiVMTransformer(ITransformer pipeline) => Pipeline = pipeline;

    /// <summary>The public ML.NET transforms this transformer is made of (what Save writes).</summary>
    public ITransformer Pipeline { get; }

    public bool IsRowToRowMapper => Pipeline.IsRowToRowMapper;

    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => Pipeline.GetOutputSchema(inputSchema);

    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => Pipeline.GetRowToRowMapper(inputSchema);

    public IDataView Transform(IDataView input) => Pipeline.Transform(input);

    void ICanSaveModel.Save(ModelSaveContext ctx) => Pipeline.Save(ctx);
}
