using static TorchSharp.torch;

namespace BiVM.Model.Decoder;

/// <summary>Decoder result: hidden features [B·T, 16, H, W], next state, and the SHB mask at 1/16 (null without SHB).</summary>
public sealed record DecoderOutput(Tensor Hidden, RecurrentState State, Tensor? Mask);
