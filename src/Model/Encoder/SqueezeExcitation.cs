using BiVM.Model.Binarization;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Encoder;

/// <summary>MobileNetV3's SE: x · hardsigmoid(fc2(relu(fc1(GAP(x))))), both 1×1 convs with bias.</summary>
public sealed class SqueezeExcitation : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> fc1;
    private readonly Module<Tensor, Tensor> fc2;

    public SqueezeExcitation(long channels, long squeezed, ConvPrecision precision) : base(nameof(SqueezeExcitation))
    {
        fc1 = LayerFactory.Conv(new ConvSpec(channels, squeezed, 1, Bias: true), precision);
        fc2 = LayerFactory.Conv(new ConvSpec(squeezed, channels, 1, Bias: true), precision);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var scale = functional.adaptive_avg_pool2d(x, 1);
        scale = functional.hardsigmoid(fc2.call(functional.relu(fc1.call(scale))));
        return x * scale;
    }
}
