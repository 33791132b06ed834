using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using BiVM.Estimators.Video;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace BiVM.Estimators.MLNet;

/// <summary>What the frame column holds: an image, or a vector of bytes or floats.</summary>
internal enum FrameKind { Image, Bytes, Floats }

/// <summary>
/// How the values of the frame column become the planar RGB floats in 0..1 the network takes. Resolved once, in
/// <c>Fit</c>, from the column's type and the options; stored with the model so a loaded pipeline reads frames
/// the same way.
/// </summary>
/// <param name="Kind">Image, bytes or floats.</param>
/// <param name="Layout">Planar or interleaved (vector columns).</param>
/// <param name="Width">Frame size of a vector column; null for image columns (each image carries its own).</param>
/// <param name="Height">As <paramref name="Width"/>.</param>
/// <param name="Scale">Multiplies vector values into 0..1 (1/255 for 0..255 values).</param>
internal sealed record FrameFormat(FrameKind Kind, PixelLayout Layout, int? Width, int? Height, float Scale)
{
    /// <summary>The format of column <paramref name="column"/>, or ML.NET's schema-mismatch error naming it.</summary>
    public static FrameFormat Resolve(DataViewSchema.Column column, BiVMOptions options)
    {
        if (column.Type is ImageDataViewType) return new FrameFormat(FrameKind.Image, PixelLayout.Interleaved, null, null, 1f);
        if (column.Type is not VectorDataViewType vector || !(vector.ItemType == NumberDataViewType.Byte || vector.ItemType == NumberDataViewType.Single))
            throw Mismatch(column.Name, column.Type.ToString()!);
        bool bytes = vector.ItemType == NumberDataViewType.Byte;
        var dims = vector.Dimensions;
        // ExtractPixels states its layout in the dimensions: [3, H, W] planar, [H, W, 3] interleaved.
        PixelLayout? fromDims = dims.Length != 3 ? null
            : dims[0] == 3 && options.PixelLayout != PixelLayout.Interleaved ? PixelLayout.Planar
            : dims[2] == 3 && options.PixelLayout != PixelLayout.Planar ? PixelLayout.Interleaved
            : null;
        var layout = options.PixelLayout ?? fromDims ?? (bytes ? PixelLayout.Interleaved : PixelLayout.Planar);
        int? width = options.Width, height = options.Height;
        if (fromDims is { } known)
        {
            (int h, int w) = known == PixelLayout.Planar ? (dims[1], dims[2]) : (dims[0], dims[1]);
            if (width is { } ow && ow != w || height is { } oh && oh != h)
                throw new ArgumentOutOfRangeException(nameof(options), $"BiVM: column '{column.Name}' holds {w}×{h} frames ({vector}), but BiVMOptions say {width}×{height}");
            (width, height) = (w, h);
        }
        if (width is null || height is null)
            throw new ArgumentException($"BiVM: column '{column.Name}' ({vector}) holds raw pixels of no stated size: set BiVMOptions.Width and Height", nameof(options));
        if (vector.IsKnownSize && vector.Size != 3 * width * height)
            throw new ArgumentOutOfRangeException(nameof(options), $"BiVM: column '{column.Name}' holds {vector.Size} values per row, a {width}×{height} RGB frame has {3 * width * height}");
        float scale = options.PixelScale ?? (bytes ? 1f / 255f : 1f);
        return new FrameFormat(bytes ? FrameKind.Bytes : FrameKind.Floats, layout, width, height, scale);
    }

    /// <summary>The same check on a <see cref="SchemaShape"/> column (no dimensions known): the frame kind.</summary>
    public static FrameKind Check(SchemaShape.Column column)
    {
        if (column.ItemType is ImageDataViewType) return FrameKind.Image;
        if (column.Kind != SchemaShape.Column.VectorKind.Scalar && column.ItemType == NumberDataViewType.Byte) return FrameKind.Bytes;
        if (column.Kind != SchemaShape.Column.VectorKind.Scalar && column.ItemType == NumberDataViewType.Single) return FrameKind.Floats;
        throw Mismatch(column.Name, $"{column.Kind} of {column.ItemType}");
    }

    /// <summary>ML.NET's wording for a column of the wrong type (as its own transforms throw it).</summary>
    public static ArgumentOutOfRangeException Mismatch(string column, string actual) => new("inputSchema",
        $"Schema mismatch for input column '{column}': expected an image (LoadImages, ResizeImages) or a vector of Byte or Single (ExtractPixels, raw RGB), got {actual}");

    /// <summary>The frame size known from the schema alone (vector columns, and fixed-size image columns).</summary>
    public (int Width, int Height)? KnownSize(DataViewType columnType) =>
        Width is { } w && Height is { } h ? (w, h)
        : columnType is ImageDataViewType { Width: > 0, Height: > 0 } image ? (image.Width, image.Height)
        : null;

    /// <summary>
    /// Mattes one vector row of this format on <paramref name="stream"/>. Raw RGB24 at the default scale goes to
    /// <see cref="VideoMatter.ProcessRgb24"/> as it is (the frame-by-frame API's own conversion, not a second one);
    /// every other layout and scale is converted into the stream's reused frame buffer and range-checked there.
    /// </summary>
    public MatteFrame Matte<T>(FrameStream stream, ReadOnlySpan<T> values, string column, bool newStream) where T : unmanaged, INumberBase<T>
    {
        int w = Width!.Value, h = Height!.Value, n = w * h;
        if (values.Length != 3 * n)
            throw new ArgumentException($"BiVM: a row of column '{column}' holds {values.Length} values, a {w}×{h} RGB frame has {3 * n}");
        if (typeof(T) == typeof(byte) && Layout == PixelLayout.Interleaved && Scale == 1f / 255f)
            return stream.MatteRgb24(MemoryMarshal.Cast<T, byte>(values), w, h, newStream);
        var planar = stream.PlanarBuffer(w, h);
        ToPlanar(values, planar);
        if (!UnitRange.Holds(planar))
            throw new ArgumentOutOfRangeException(nameof(values), $"BiVM: column '{column}' times PixelScale {Scale} gives values in {UnitRange.Describe(planar)}, not 0..1: state the column's scale in BiVMOptions.PixelScale (1/255 for 0..255 values, e.g. ExtractPixels' default)");
        return stream.MattePlanar(planar, w, h, newStream);
    }

    /// <summary>The values times <see cref="Scale"/>, as planar RGB (3·W·H values, already of that length).</summary>
    private void ToPlanar<T>(ReadOnlySpan<T> values, Span<float> planar) where T : unmanaged, INumberBase<T>
    {
        float scale = Scale;
        int n = planar.Length / 3;
        if (Layout == PixelLayout.Planar)
        {
            // Floats (ExtractPixels' output): one vectorized multiply. Bytes: a scalar conversion.
            if (typeof(T) == typeof(float)) TensorPrimitives.Multiply(MemoryMarshal.Cast<T, float>(values), scale, planar);
            else for (int i = 0; i < planar.Length; i++) planar[i] = float.CreateTruncating(values[i]) * scale;
            return;
        }
        var r = planar[..n];
        var g = planar.Slice(n, n);
        var b = planar.Slice(2 * n, n);
        for (int i = 0, j = 0; i < n; i++, j += 3)
        {
            r[i] = float.CreateTruncating(values[j]) * scale;
            g[i] = float.CreateTruncating(values[j + 1]) * scale;
            b[i] = float.CreateTruncating(values[j + 2]) * scale;
        }
    }
}

/// <summary>How the three colour values of a pixel vector are laid out.</summary>
public enum PixelLayout
{
    /// <summary>All R values, then all G, then all B (ExtractPixels' default, <c>interleavePixelColors: false</c>).</summary>
    Planar,

    /// <summary>R, G, B of each pixel together (raw RGB24 bytes; ExtractPixels with <c>interleavePixelColors: true</c>).</summary>
    Interleaved,
}
