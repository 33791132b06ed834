namespace BiVM.Export;

/// <summary>
/// The SHB mask rule of model-contract.md in standard ops: output (y, x) is active iff mask[⌊y/k⌋, ⌊x/k⌋],
/// i.e. Resize(nearest, asymmetric, floor) by k, then a crop to the conv output's H×W. Used by the 32-bit BiVM,
/// whose masked conv is an ordinary Conv times the mask (the binary one uses SparseBinaryConv2d).
/// </summary>
internal static class MaskUpsampler
{
    public static string Upsample(ExportGraph g, string name, string mask, long k, string like)
    {
        return g.Memo($"mask_up|{mask}|{k}|{like}", () =>
        {
            var scales = g.Floats("mask_scales", [1f, 1f, k, k], 4);
            var up = g.Op("Resize", name + ".upsample", [mask, "", scales], n => n
                .Attribute("mode", "nearest")
                .Attribute("coordinate_transformation_mode", "asymmetric")
                .Attribute("nearest_mode", "floor"));
            return Shapes.CropTo(g, name + ".crop", up, like);
        });
    }
}
