using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Decoder;

/// <summary>
/// RVM's output block decode0 at full (working) resolution, SHB₄ in paper table 6: bilinear ×2, crop,
/// concatenate [x, src], then two 3×3 convs. No GRU.
/// </summary>
public sealed class OutputBlock : Module<Tensor, Tensor, Tensor?, Tensor>
{
    private readonly DecoderConv conv1;
    private readonly DecoderConv conv2;

    public OutputBlock(long inChannels, long outChannels, long maskScale, DecoderPlan plan) : base(nameof(OutputBlock))
    {
        InChannels = inChannels;
        conv1 = new DecoderConv(inChannels + DecoderPlan.SourceChannels, outChannels, maskScale, plan.UseShb, plan.Precision, plan.Activation);
        conv2 = new DecoderConv(outChannels, outChannels, maskScale, plan.UseShb, plan.OutputConv2Precision, plan.OutputConv2Activation);
        RegisterComponents();
    }

    /// <summary>Channels of x, the upsampled input: the first part of conv1's input [x, src].</summary>
    public long InChannels { get; }

    public override Tensor forward(Tensor x, Tensor source, Tensor? mask)
    {
        x = Resample.Up2To(x, source.shape[2], source.shape[3]);
        x = conv1.call(cat(new[] { x, source }, 1), mask);
        return conv2.call(x, mask);
    }
}
