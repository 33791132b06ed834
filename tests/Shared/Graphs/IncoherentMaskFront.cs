using BiVM.Graph;
using Onnx;

namespace BiVM.Tests.Shared;

/// <summary>
/// The front of SHB's incoherent mask in standard ops, node for node as src/Export/IncoherentMaskWriter.cs writes it
/// (the nodes <c>ai.bivm:Incoherence</c> stands for): from F and its pool S to D ([N, H·W]) and P ([N, 1, H·W]).
/// </summary>
public static class IncoherentMaskFront
{
    /// <summary>Adds the chain's constants and its twelve nodes (two of them the crop's Shape and Slice) to <paramref name="g"/>; node names start with <paramref name="prefix"/>.</summary>
    public static void Add(OnnxGraphBuilder g, string f, string s, string d, string positives, string prefix = "mask")
    {
        const TensorProto.Types.DataType F32 = TensorProto.Types.DataType.Float;
        g.Initializer(Tensors.Float("scales_x2", [1f, 1f, 2f, 2f], 4));
        g.Initializer(Tensors.Int64("zeros2", [0L, 0L], 2));
        g.Initializer(Tensors.Int64("axes_hw", [2L, 3L], 2));
        g.Initializer(Tensors.Int64("i2", [2L], 1));
        g.Initializer(Tensors.Int64("i4", [4L], 1));
        g.Initializer(Tensors.Int64("axis1", [1L], 1));
        g.Initializer(Tensors.Int64("n_flat", [0L, -1L], 2));
        g.Initializer(Tensors.Int64("n_1_flat", [0L, 1L, -1L], 3));
        g.Initializer(Tensors.Float("zero", [0f], 1));
        g.Node("Shape", [f], [f + ".shape"], f + ".shape");
        g.Node("Slice", [f + ".shape", "i2", "i4"], [f + ".hw"], f + ".hw");
        g.Node("Resize", [s, "", "scales_x2"], ["up2"], prefix + ".smooth.up2").Attribute("mode", "linear").Attribute("coordinate_transformation_mode", "pytorch_half_pixel");
        g.Node("Slice", ["up2", "zeros2", f + ".hw", "axes_hw"], ["crop"], prefix + ".smooth.crop");
        g.Node("Sub", [f, "crop"], ["diff"], prefix + ".diff");
        g.Node("Abs", ["diff"], ["abs"], prefix + ".abs");
        g.Node("ReduceMean", ["abs"], ["mean"], prefix + ".incoherence").Attribute("axes", new long[] { 1 }).Attribute("keepdims", 0L);
        g.Node("Reshape", ["mean", "n_flat"], [d], prefix + ".flat");
        g.Node("GreaterOrEqual", [f, "zero"], ["ge0"], prefix + ".ge0");
        g.Node("Cast", ["ge0"], ["nonneg"], prefix + ".nonneg").Attribute("to", (long)F32);
        g.Node("ReduceSum", ["nonneg", "axis1"], ["positives"], prefix + ".positives").Attribute("keepdims", 0L);
        g.Node("Reshape", ["positives", "n_1_flat"], [positives], prefix + ".positives_flat");
    }
}
