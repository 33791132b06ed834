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
    long Dilation);
