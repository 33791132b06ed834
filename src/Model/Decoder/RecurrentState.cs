using static TorchSharp.torch;

namespace BiVM.Model.Decoder;

/// <summary>
/// The four ConvGRU states r1..r4 (graph I/O names r1i..r4i / r1o..r4o): r1 [B,16,H/2,W/2] … r4 [B,C4,H/16,W/16]
/// of the network's working resolution. Always 4-D, also for 5-D input (the last frame's state).
/// A state may be a [1,1,1,1] zero tensor or empty: it then starts from zeros (model-contract.md).
/// </summary>
public sealed record RecurrentState(Tensor R1, Tensor R2, Tensor R3, Tensor R4);
