using static TorchSharp.torch;

namespace BiVM.Model.Encoder;

/// <summary>Encoder outputs at ½, ¼, ⅛ and 1/16 of the (downsampled) input; F4 is before LR-ASPP.</summary>
public sealed record EncoderFeatures(Tensor F1, Tensor F2, Tensor F3, Tensor F4);
