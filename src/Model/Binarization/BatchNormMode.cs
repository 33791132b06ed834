namespace BiVM.Model.Binarization;

/// <summary>How a <see cref="ConvBnAct"/>'s BatchNorm normalizes while training (a stage setting, see TrainingConfig).</summary>
public enum BatchNormMode
{
    /// <summary>PyTorch's training mode: by the batch's own statistics, which the running ones follow.</summary>
    Batch,

    /// <summary>
    /// By the running statistics, which follow the batches (Batch Renormalization with r, d unclipped).
    /// With one clip per batch, <see cref="Batch"/> normalizes by that clip's statistics and the network
    /// learns to rely on them; exported, on population statistics, it then fails (measured: MAD 27.5 in
    /// training mode, 87.5 as exported, all-background 71.7). Running normalization trains exactly what is exported.
    /// </summary>
    Running,

    /// <summary>By the running statistics, which stay fixed (eval-mode BN; the affine parameters still learn).</summary>
    Frozen,
}
