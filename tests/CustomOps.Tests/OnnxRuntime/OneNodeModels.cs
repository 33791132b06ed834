using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

namespace BiVM.CustomOps.Tests.OnnxRuntime;

/// <summary>One-node models for a <see cref="ConvCase"/>: the ai.bivm op, and the same layer lowered to standard ops.</summary>
internal static class OneNodeModels
{
    public static BinaryConvAttributes Attributes(ConvCase c) => new(
        [c.P.KernelHeight, c.P.KernelWidth], [c.P.StrideHeight, c.P.StrideWidth],
        [c.P.PadTop, c.P.PadLeft, c.P.PadBottom, c.P.PadRight], [c.P.DilationHeight, c.P.DilationWidth]);

    /// <summary>X is [N, C, H, W] with symbolic N, H, W (C symbolic too when <paramref name="symbolicChannels"/>).</summary>
    public static byte[] Custom(ConvCase c, int maskScale = 0, TensorProto.Types.DataType maskType = TensorProto.Types.DataType.Uint8,
        bool symbolicChannels = false, Action<NodeBuilder>? edit = null)
    {
        var p = c.P;
        var g = new OnnxGraphBuilder("bivm_one_node");
        g.Input("X", TensorProto.Types.DataType.Float, "N", symbolicChannels ? "C" : p.InChannels, "H", "W");
        if (maskScale > 0) g.Input("Mask", maskType, "N", 1, "MH", "MW");
        var node = BinaryConvNodes.AddCustom(g, "bconv", "X", "Y", c.PackedWeights,
            WeightPacker.PackedShape(p.OutChannels, p.InChannels, p.KernelHeight, p.KernelWidth),
            c.Alpha, c.Tau, c.Bias.Length == 0 ? null : c.Bias, Attributes(c), maskScale > 0 ? "Mask" : null, Math.Max(1, maskScale));
        edit?.Invoke(node);
        g.Output("Y", TensorProto.Types.DataType.Float, "N", p.OutChannels, "HO", "WO");
        return g.ToBytes();
    }

    public static byte[] Lowered(ConvCase c, int maskScale = 0)
    {
        var p = c.P;
        var g = new OnnxGraphBuilder("bivm_lowered");
        g.Input("X", TensorProto.Types.DataType.Float, "N", p.InChannels, "H", "W");
        if (maskScale > 0) g.Input("Mask", TensorProto.Types.DataType.Uint8, "N", 1, "MH", "MW");
        long[] shape = [p.OutChannels, p.InChannels, p.KernelHeight, p.KernelWidth];
        BinaryConvNodes.AddLowered(g, "bconv", "X", "Y", WeightPacker.Unpack(c.PackedWeights, p.OutChannels, p.InChannels, p.KernelHeight, p.KernelWidth),
            shape, c.Alpha, c.Tau, c.Bias.Length == 0 ? null : c.Bias, Attributes(c), maskScale > 0 ? "Mask" : null, Math.Max(1, maskScale));
        g.Output("Y", TensorProto.Types.DataType.Float, "N", p.OutChannels, "HO", "WO");
        return g.ToBytes();
    }

    public static InferenceSession Session(byte[] model, string? kernel = null, int threads = 1,
        GraphOptimizationLevel level = GraphOptimizationLevel.ORT_ENABLE_ALL)
    {
        using var options = new SessionOptions { IntraOpNumThreads = threads, GraphOptimizationLevel = level };
        BiVMOps.Register(options, kernel);
        return new InferenceSession(model, options);
    }

    public static float[] Run(InferenceSession session, float[] x, int[] xShape, byte[]? mask = null, int[]? maskShape = null)
    {
        var inputs = new List<NamedOnnxValue> { NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, xShape)) };
        if (mask is not null) inputs.Add(NamedOnnxValue.CreateFromTensor("Mask", new DenseTensor<byte>(mask, maskShape!)));
        using var results = session.Run(inputs);
        return results.First().AsTensor<float>().ToArray();
    }

    public static int[] XShape(ConvCase c) => [c.P.Batch, c.P.InChannels, c.P.InHeight, c.P.InWidth];
}
