using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiVM.Model.Binarization;

/// <summary>
/// What the exporter writes for one <c>BinaryConv2d</c> node after BN folding (model-contract.md,
/// "BatchNorm after a binary conv"): Y = Alpha[co] · conv(sign(X − Tau), SignWeight) + Bias[co].
/// Alpha = s·γ/√(σ²+ε) may be negative.
/// </summary>
public sealed record FoldedBinaryConv(
    Tensor SignWeight,
    Tensor Alpha,
    Tensor Bias,
    Tensor Tau,
    long Kernel,
    long Stride,
    long Padding,
    long Dilation)
{
    /// <summary>
    /// alpha' = s·γ/√(σ²+ε), bias' = β − μ·γ/√(σ²+ε) + b·γ/√(σ²+ε) with the BN's eval statistics
    /// (model-contract.md, binding); without a BN, alpha' = s and bias' = b (e.g. the ConvGRU gates).
    /// </summary>
    public static FoldedBinaryConv Fold(BinaryConv2d conv, BatchNorm2d? norm)
    {
        using var _ = no_grad();
        var scale = conv.Scale();
        var convBias = conv.Bias is null ? zeros_like(scale) : conv.Bias.detach().clone();
        Tensor alpha, bias;
        if (norm is not null)
        {
            var invStd = norm.weight!.detach() / (norm.running_var! + norm.eps).sqrt();
            alpha = scale * invStd;
            bias = norm.bias!.detach() - norm.running_mean! * invStd + convBias * invStd;
        }
        else
        {
            alpha = scale;
            bias = convBias;
        }
        return new FoldedBinaryConv(conv.SignWeight(), alpha, bias, conv.Tau.detach().clone(),
            conv.KernelSize, conv.Stride, conv.Padding, conv.Dilation);
    }
}
