using System.ComponentModel;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace BiVM.Estimators.MLNet;

/// <summary>
/// Column names of the helper columns the BiVM pipeline adds and drops again. The custom mappings
/// bind to these fixed names (ML.NET stores a custom mapping by contract name only, not its column
/// renames), and the user's columns are copied to and from them.
/// </summary>
internal static class Columns
{
    public const string Key = "__bivm_key";
    public const string Model = "__bivm_model";
    public const string NewStream = "__bivm_new";
    public const string Frame = "__bivm_frame";
    public const string Alpha = "__bivm_alpha";
    public const string Foreground = "__bivm_fgr";
    public const string KeyValue = "model";
    public static readonly string[] All = [Key, Model, NewStream, Frame, Alpha, Foreground];
}

// The row types below are public only because ML.NET's custom mappings bind to public members.

[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class NoColumns;

[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class ConstantColumns
{
    [ColumnName(Columns.Key)] public string Key { get; set; } = Columns.KeyValue;
    [ColumnName(Columns.NewStream)] public bool NewStream { get; set; }
}

/// <summary>What every frame row carries besides the frame: the stored model blob and the stream-start flag.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public interface IFrameRow
{
    byte[] Model { get; }
    bool NewStream { get; }
}

[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class ImageFrameRow : IFrameRow
{
    [ColumnName(Columns.Frame)] public Microsoft.ML.Data.MLImage? Frame { get; set; }
    [ColumnName(Columns.Model)] [VectorType] public byte[] Model { get; set; } = [];
    [ColumnName(Columns.NewStream)] public bool NewStream { get; set; }
}

[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class ByteFrameRow : IFrameRow
{
    [ColumnName(Columns.Frame)] [VectorType] public byte[] Frame { get; set; } = [];
    [ColumnName(Columns.Model)] [VectorType] public byte[] Model { get; set; } = [];
    [ColumnName(Columns.NewStream)] public bool NewStream { get; set; }
}

[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class FloatFrameRow : IFrameRow
{
    [ColumnName(Columns.Frame)] [VectorType] public float[] Frame { get; set; } = [];
    [ColumnName(Columns.Model)] [VectorType] public byte[] Model { get; set; } = [];
    [ColumnName(Columns.NewStream)] public bool NewStream { get; set; }
}

[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class MatteRow
{
    [ColumnName(Columns.Alpha)] [VectorType] public float[] Alpha { get; set; } = [];
    [ColumnName(Columns.Foreground)] [VectorType] public float[] Foreground { get; set; } = [];
}

/// <summary>One stream's matter, created from the stored blob on the cursor's first row.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class MatterState
{
    internal VideoMatterHolder? Holder { get; set; }
}
