namespace BiVM.Model.Binarization;

/// <summary>
/// How a <see cref="ConvBnAct"/>'s BatchNorm normalizes. The network sets it from
/// <see cref="Networks.ModelConfig.Normalization"/>; the exporter writes the same computation.
/// </summary>
public enum BatchNormMode
{
    /// <summary>RVM's BatchNorm: by the batch's statistics in training, by the running ones in eval mode (folded on export).</summary>
    Batch,

    /// <summary>
    /// By the running statistics in training too, which follow the batches (Batch Renormalization with r, d
    /// unclipped); folded on export like <see cref="Batch"/>. Used where <see cref="Frame"/> cannot be: SHB's
    /// masked 3×3, whose exported kernel computes only the active rows and so never sees a frame's statistics.
    /// </summary>
    Running,

    /// <summary>
    /// Each frame by its own per-channel statistics, in training and in inference alike (InstanceNorm with
    /// BN's γ, β; ONNX InstanceNormalization on export). With one clip per batch, <see cref="Batch"/> normalizes
    /// by that clip's statistics and the network learns to rely on them; exported on running statistics it then
    /// fails (measured: MAD 27.5 in training mode, 87.5 as exported, 71.7 for "all background").
    /// </summary>
    Frame,

    /// <summary>
    /// By the running statistics in training too, and they never change: the BatchNorm is a fixed per-channel affine
    /// (γ, β still train). For imported pretrained weights whose BatchNorms were folded into their convs
    /// (<see cref="Import.OfficialRvmImport"/>): with one clip per batch, <see cref="Batch"/> would replace the large-batch
    /// statistics they were trained with by one clip's, and <see cref="Frame"/> would normalize what was never normalized.
    /// Folded on export like <see cref="Batch"/>.
    /// </summary>
    Fixed,
}
