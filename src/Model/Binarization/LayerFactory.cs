using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Binarization;

/// <summary>The one place that turns a <see cref="ConvSpec"/> and a precision into a module.</summary>
public static class LayerFactory
{
    public static Module<Tensor, Tensor> Conv(ConvSpec spec, ConvPrecision precision)
    {
        // Every conv of our networks is made here, in BinaryConv2d or in MattingNetwork: before the first,
        // LibTorch's convolutions are checked (and, where wrong, switched) once per process.
        Numerics.LibTorchNumerics.EnsureVerified();
        if (precision == ConvPrecision.Binary)
        {
            // Bit-packing runs along channels: a grouped binary conv has nothing to pack
            // (model-contract.md "Depthwise convolutions"), so groups > 1 stay full precision.
            if (spec.Groups != 1) throw new ArgumentException($"binary convolutions have groups = 1, got {spec.Groups}", nameof(spec));
            return new BinaryConv2d(spec.In, spec.Out, spec.Kernel, spec.Stride, spec.Dilation, spec.Bias);
        }
        return Conv2d(spec.In, spec.Out, spec.Kernel, stride: spec.Stride, padding: spec.Padding,
            dilation: spec.Dilation, groups: spec.Groups, bias: spec.Bias);
    }

    /// <param name="relaxedFrom">For RPReLU: the 32-bit network's activation it replaces (<see cref="RPReLU.RelaxedFrom"/>).</param>
    public static Module<Tensor, Tensor> Activation(ActivationKind kind, long channels, ActivationKind relaxedFrom = ActivationKind.Relu) => kind switch
    {
        ActivationKind.None => Identity(),
        ActivationKind.Relu => ReLU(),
        ActivationKind.Hardswish => Hardswish(),
        ActivationKind.RPReLU => new RPReLU(channels, relaxedFrom),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };
}
