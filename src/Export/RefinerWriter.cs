using BiVM.Model.Binarization;
using BiVM.Model.Decoder;
using static TorchSharp.torch;

namespace BiVM.Export;

/// <summary>
/// RVM's Deep Guided Filter (src/Model/Decoder/DeepGuidedFilter.cs): box-filter statistics at the working size,
/// A and b from three 1×1s, both resized bilinearly to the full frame: out = A·[src, mean(src)] + b.
/// </summary>
internal sealed class RefinerWriter(ExportGraph g, ConvWriter convs)
{
    /// <returns>(fgr residual, pha) at full size, before the final clamps.</returns>
    public (string Fgr, string Pha) Refine(string name, DeepGuidedFilter dgf, string fine, string coarse, string fgr, string pha, string hidden)
    {
        var box = ModuleTree.Child<nn.Module<Tensor, Tensor>>(dgf, "box_filter");
        string Box(string n, string x) => convs.BareConv($"{name}.box_filter.{n}", x, box);
        var fineX = WithMean(name + ".fine", fine);
        var baseX = WithMean(name + ".base", coarse);
        var baseY = g.Op("Concat", name + ".base_y", [fgr, pha], n => n.Attribute("axis", 1L));
        var meanX = Box("mean_x", baseX);
        var meanY = Box("mean_y", baseY);
        var covXY = g.Op("Sub", name + ".cov_xy", [Box("xy", g.Op("Mul", name + ".xy", [baseX, baseY])), g.Op("Mul", name + ".mean_xy", [meanX, meanY])]);
        var varX = g.Op("Sub", name + ".var_x", [Box("xx", g.Op("Mul", name + ".xx", [baseX, baseX])), g.Op("Mul", name + ".mean_xx", [meanX, meanX])]);
        var a = g.Op("Concat", name + ".stats", [covXY, varX, hidden], n => n.Attribute("axis", 1L));
        a = convs.ConvBnAct(name + ".conv1", a, ModuleTree.Child<ConvBnAct>(dgf, "conv1"));
        a = convs.ConvBnAct(name + ".conv2", a, ModuleTree.Child<ConvBnAct>(dgf, "conv2"));
        a = convs.BareConv(name + ".conv3", a, ModuleTree.Child<nn.Module<Tensor, Tensor>>(dgf, "conv3"));
        var b = g.Op("Sub", name + ".b", [meanY, g.Op("Mul", name + ".a_mean_x", [a, meanX])]);
        var fineA = Resampling.BilinearTo(g, name + ".resize_a", a, fine);
        var fineB = Resampling.BilinearTo(g, name + ".resize_b", b, fine);
        var output = g.Op("Add", name + ".output", [g.Op("Mul", name + ".a_x", [fineA, fineX]), fineB]);
        var parts = g.Ops("Split", name + ".split", [output, g.Int64s("split_3_1", [3L, 1L], 2)], 2, n => n.Attribute("axis", 1L));
        return (parts[0], parts[1]);
    }

    /// <summary>[x, mean_c(x)]: RGB plus its channel mean, the guide image of the filter.</summary>
    private string WithMean(string name, string x)
    {
        var mean = g.Op("ReduceMean", name + ".mean", [x], n => n.Attribute("axes", new long[] { 1 }).Attribute("keepdims", 1L));
        return g.Op("Concat", name + ".x", [x, mean], n => n.Attribute("axis", 1L));
    }
}
