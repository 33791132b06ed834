namespace BiVM.Export;

/// <summary>Shape plumbing shared by the decoder, the mask and the refiner: runtime H×W and crops to it.</summary>
internal static class Shapes
{
    /// <summary>The [H, W] of a 4-D tensor as an int64 [2] tensor (one Shape node per tensor).</summary>
    public static string HeightWidth(ExportGraph g, string x) => g.Memo($"hw|{x}", () =>
    {
        var shape = g.Op("Shape", x + ".shape", [x]);
        return g.Op("Slice", x + ".hw", [shape, g.Int64s("i2", [2L], 1), g.Int64s("i4", [4L], 1)]);
    });

    /// <summary>x[:, :, :H, :W] with H×W taken from <paramref name="like"/> (RVM's crop after a ×2 upsampling).</summary>
    public static string CropTo(ExportGraph g, string name, string x, string like) =>
        g.Op("Slice", name, [x, g.Int64s("zeros2", [0L, 0L], 2), HeightWidth(g, like), g.Int64s("axes_hw", [2L, 3L], 2)]);
}
