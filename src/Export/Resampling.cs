namespace BiVM.Export;

/// <summary>
/// src/Model's Resample in ONNX ops. torch's interpolate(scale_factor, bilinear, align_corners = false) uses
/// the given factor for the coordinate map (src = (dst + 0.5)/s − 0.5, clamped at 0) and floor(H·s) outputs:
/// that is ONNX Resize(linear, pytorch_half_pixel) with scales. AvgPool2d(2, ceil_mode, padding excluded)
/// is AveragePool with ceil_mode = 1 and count_include_pad = 0.
/// </summary>
internal static class Resampling
{
    /// <summary>Resample.Down2: 2×2 average, ceil(H/2). Memoised: several shortcuts pool the same tensor.</summary>
    public static string Down2(ExportGraph g, string x) => g.Memo($"down2|{x}", () =>
        g.Op("AveragePool", x + ".down2", [x], n => n
            .Attribute("kernel_shape", 2L, 2L)
            .Attribute("strides", 2L, 2L)
            .Attribute("ceil_mode", 1L)
            .Attribute("count_include_pad", 0L)));

    /// <summary>Resample.Up2To: bilinear ×2, then crop to <paramref name="like"/>'s H×W.</summary>
    public static string Up2To(ExportGraph g, string name, string x, string like)
    {
        var up = Linear(g, name + ".up2", x, g.Floats("scales_x2", [1f, 1f, 2f, 2f], 4), sizes: null);
        return Shapes.CropTo(g, name + ".crop", up, like);
    }

    /// <summary>Resample.BilinearTo: bilinear resize to <paramref name="like"/>'s H×W (the DGF's last step).</summary>
    public static string BilinearTo(ExportGraph g, string name, string x, string like)
    {
        var nc = g.Memo($"nc|{x}", () =>
        {
            var shape = g.Op("Shape", x + ".shape", [x]);
            return g.Op("Slice", x + ".nc", [shape, g.Int64s("i0", [0L], 1), g.Int64s("i2", [2L], 1)]);
        });
        var sizes = g.Op("Concat", name + ".sizes", [nc, Shapes.HeightWidth(g, like)], n => n.Attribute("axis", 0L));
        return Linear(g, name, x, scales: null, sizes);
    }

    /// <summary>MattingNetwork.Downsample: bilinear by the runtime factor r (scales [1, 1, r, r]).</summary>
    public static string ByFactor(ExportGraph g, string name, string x, string ratio)
    {
        var scales = g.Op("Concat", name + ".scales", [g.Floats("ones2", [1f, 1f], 2), ratio, ratio], n => n.Attribute("axis", 0L));
        return Linear(g, name, x, scales, sizes: null);
    }

    private static string Linear(ExportGraph g, string name, string x, string? scales, string? sizes)
    {
        var inputs = sizes is null ? new[] { x, "", scales! } : new[] { x, "", "", sizes };
        return g.Op("Resize", name, inputs, n => n
            .Attribute("mode", "linear")
            .Attribute("coordinate_transformation_mode", "pytorch_half_pixel"));
    }
}
