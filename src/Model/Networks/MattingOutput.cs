using BiVM.Model.Decoder;
using BiVM.Model.Encoder;
using static TorchSharp.torch;

namespace BiVM.Model.Networks;

/// <summary>
/// Graph outputs fgr, pha ([B,3,H,W]/[B,1,H,W], or [B,T,…] for 5-D input) and r1o..r4o, plus what the
/// losses of issue 6 need: the encoder features (time-folded, for LBM, eq. 20) and the SHB mask at 1/16
/// (time-folded [B·T,1,h,w], null without SHB).
/// </summary>
public sealed record MattingOutput(Tensor Fgr, Tensor Pha, RecurrentState State, EncoderFeatures Features, Tensor? Mask);
