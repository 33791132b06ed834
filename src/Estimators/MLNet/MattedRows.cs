using System.Numerics;
using BiVM.Estimators.Video;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BiVM.Estimators.MLNet;

/// <summary>
/// The columns a BiVM transform adds to an input schema, and where it reads its inputs. The output schema is the
/// input schema followed by the alpha and foreground columns (a same-named input column is hidden, as ML.NET's own
/// transforms do).
/// </summary>
internal sealed class MattedSchema
{
    public MattedSchema(DataViewSchema input, BiVMOptions options, FrameFormat format)
    {
        Input = input;
        var frame = input.GetColumnOrNull(options.InputColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(input), $"Schema mismatch for input column '{options.InputColumnName}': column not found (columns: {string.Join(", ", input.Select(c => c.Name))})");
        if (FrameFormat.Resolve(frame, options).Kind != format.Kind)
            throw FrameFormat.Mismatch(frame.Name, frame.Type.ToString()!);
        Frame = frame;
        if (options.NewStreamColumnName is { } name)
        {
            var stream = input.GetColumnOrNull(name)
                ?? throw new ArgumentOutOfRangeException(nameof(input), $"Schema mismatch for input column '{name}': column not found (the new-stream column)");
            if (stream.Type != BooleanDataViewType.Instance)
                throw new ArgumentOutOfRangeException(nameof(input), $"Schema mismatch for input column '{name}': expected Boolean (the new-stream column), got {stream.Type}");
            NewStream = stream;
        }
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(input);
        AddOutputs(builder, options, format.KnownSize(frame.Type));
        Output = builder.ToSchema();
    }

    /// <summary>The alpha ([H, W]) and foreground ([3, H, W]) columns; of variable size when the frame size is not known.</summary>
    public static void AddOutputs(DataViewSchema.Builder builder, BiVMOptions options, (int Width, int Height)? size)
    {
        var single = NumberDataViewType.Single;
        builder.AddColumn(options.AlphaColumnName, size is var (w, h) ? new VectorDataViewType(single, h, w) : new VectorDataViewType(single));
        builder.AddColumn(options.ForegroundColumnName, size is var (fw, fh) ? new VectorDataViewType(single, 3, fh, fw) : new VectorDataViewType(single));
    }

    public DataViewSchema Input { get; }
    public DataViewSchema Output { get; }
    public DataViewSchema.Column Frame { get; }
    public DataViewSchema.Column? NewStream { get; }
    public int Alpha => Input.Count;
    public int Foreground => Input.Count + 1;

    /// <summary>The input columns needed to serve <paramref name="outputColumns"/>.</summary>
    public IEnumerable<DataViewSchema.Column> Dependencies(IEnumerable<DataViewSchema.Column> outputColumns)
    {
        var needed = new HashSet<int>();
        foreach (var column in outputColumns)
        {
            if (column.Index < Input.Count) needed.Add(column.Index);
            else
            {
                needed.Add(Frame.Index);
                if (NewStream is { } s) needed.Add(s.Index);
            }
        }
        return needed.Order().Select(i => Input[i]);
    }
}

/// <summary>
/// The columns of one matted row (a cursor's or a prediction engine's), over an input row: input columns pass
/// through, and the first request for alpha or foreground at a new position reads the frame and runs the stream
/// once (both columns come from that run).
/// </summary>
internal sealed class MattedGetters
{
    private readonly MattedSchema _schema;
    private readonly DataViewRow _input;
    private readonly FrameStream? _stream;
    private readonly Func<FrameStream, bool, MatteFrame>? _matte;
    private readonly ValueGetter<bool>? _newStream;
    private long _position = -1;
    private MatteFrame? _frame;

    // stream: null when no output column is active (nothing is matted).
    public MattedGetters(MattedSchema schema, FrameFormat format, DataViewRow input, FrameStream? stream)
    {
        _schema = schema;
        _input = input;
        _stream = stream;
        if (stream is null) return;
        _matte = FrameMatter(format, schema.Frame, input);
        _newStream = schema.NewStream is { } s ? input.GetGetter<bool>(s) : null;
    }

    // The getter and its buffer are made once per cursor; each row reads into the same buffer.
    private static Func<FrameStream, bool, MatteFrame> FrameMatter(FrameFormat format, DataViewSchema.Column column, DataViewRow input)
    {
        switch (format.Kind)
        {
            case FrameKind.Image:
                var image = input.GetGetter<MLImage>(column);
                return (stream, newStream) =>
                {
                    MLImage value = null!;
                    image(ref value);
                    return ImagePixels.Matte(stream, value ?? throw new ArgumentException($"BiVM: a row of column '{column.Name}' holds no image (LoadImages could not read the file?)"), newStream);
                };
            case FrameKind.Bytes:
                return VectorMatter<byte>(format, column, input);
            default:
                return VectorMatter<float>(format, column, input);
        }
    }

    private static Func<FrameStream, bool, MatteFrame> VectorMatter<T>(FrameFormat format, DataViewSchema.Column column, DataViewRow input)
        where T : unmanaged, INumberBase<T>
    {
        var getter = input.GetGetter<VBuffer<T>>(column);
        var buffer = default(VBuffer<T>);
        T[] dense = [];
        return (stream, newStream) =>
        {
            getter(ref buffer);
            ReadOnlySpan<T> values = buffer.GetValues();
            if (!buffer.IsDense)
            {
                if (dense.Length != buffer.Length) dense = new T[buffer.Length];
                buffer.CopyTo(dense);
                values = dense;
            }
            return format.Matte(stream, values, column.Name, newStream);
        };
    }

    public bool IsColumnActive(DataViewSchema.Column column) =>
        column.Index < _schema.Input.Count ? _input.IsColumnActive(_schema.Input[column.Index]) : _stream is not null;

    public ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
    {
        if (column.Index < _schema.Input.Count) return _input.GetGetter<TValue>(_schema.Input[column.Index]);
        bool alpha = column.Index == _schema.Alpha;
        ValueGetter<VBuffer<float>> getter = (ref VBuffer<float> dst) =>
        {
            var frame = Current();
            var values = alpha ? frame.Alpha : frame.Foreground;
            var editor = VBufferEditor.Create(ref dst, values.Length);
            values.CopyTo(editor.Values);
            dst = editor.Commit();
        };
        return getter as ValueGetter<TValue>
            ?? throw new InvalidOperationException($"BiVM: column '{column.Name}' holds VBuffer<Single>, not {typeof(TValue).Name}");
    }

    private MatteFrame Current()
    {
        if (_frame is null || _position != _input.Position)
        {
            var stream = _stream ?? throw new InvalidOperationException("BiVM: no output column is active on this row");
            bool newStream = false;
            _newStream?.Invoke(ref newStream);
            _frame = _matte!(stream, newStream);
            _position = _input.Position;
        }
        return _frame;
    }
}

/// <summary>A transformed data view: the input's rows in order, one stream per cursor.</summary>
internal sealed class MattedDataView(IDataView input, MattedSchema schema, FrameFormat format, ModelSession session) : IDataView
{
    // The rows of a cursor are frames of one video: they must be read in order, never shuffled or split.
    public bool CanShuffle => false;

    public DataViewSchema Schema => schema.Output;

    public long? GetRowCount() => input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.ToList();
        var cursor = input.GetRowCursor(schema.Dependencies(needed));
        return new MattedCursor(cursor, schema, format, needed.Any(c => c.Index >= schema.Input.Count) ? session.Open(reusesFrames: true) : null);
    }

    // One cursor, always: parallel cursors would split one video into several streams.
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];
}

/// <summary>A cursor over matted rows; disposing it releases its stream.</summary>
internal sealed class MattedCursor : DataViewRowCursor
{
    private readonly DataViewRowCursor _input;
    private readonly MattedSchema _schema;
    private readonly FrameStream? _stream;
    private readonly MattedGetters _getters;

    public MattedCursor(DataViewRowCursor input, MattedSchema schema, FrameFormat format, FrameStream? stream)
    {
        _input = input;
        _schema = schema;
        _stream = stream;
        _getters = new MattedGetters(schema, format, input, stream);
    }

    public override DataViewSchema Schema => _schema.Output;
    public override long Position => _input.Position;
    public override long Batch => _input.Batch;
    public override bool MoveNext() => _input.MoveNext();
    public override ValueGetter<DataViewRowId> GetIdGetter() => _input.GetIdGetter();

    public override bool IsColumnActive(DataViewSchema.Column column) => _getters.IsColumnActive(column);
    public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => _getters.GetGetter<TValue>(column);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _stream?.Dispose();
            _input.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>
/// The row-to-row mapper behind prediction engines: each row it makes is one stream, so an engine carries the
/// state across its Predict calls. ML.NET never disposes an engine's output row; its stream is released when the
/// transformer is disposed (which disposing an engine does by default) or, if nobody disposes anything, by GC.
/// </summary>
internal sealed class MattedRowMapper(MattedSchema schema, FrameFormat format, ModelSession session) : IRowToRowMapper
{
    public DataViewSchema InputSchema => schema.Input;
    public DataViewSchema OutputSchema => schema.Output;

    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns) => schema.Dependencies(dependingColumns);

    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
    {
        bool outputs = activeColumns.Any(c => c.Index >= schema.Input.Count);
        return new MattedRow(input, schema, format, outputs ? session.Open(reusesFrames: true) : null);
    }

    private sealed class MattedRow(DataViewRow input, MattedSchema schema, FrameFormat format, FrameStream? stream) : DataViewRow
    {
        private readonly MattedGetters _getters = new(schema, format, input, stream);

        public override DataViewSchema Schema => schema.Output;
        public override long Position => input.Position;
        public override long Batch => input.Batch;
        public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) => _getters.IsColumnActive(column);
        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => _getters.GetGetter<TValue>(column);

        protected override void Dispose(bool disposing)
        {
            if (disposing) stream?.Dispose();
            base.Dispose(disposing);
        }
    }
}
