namespace BiVM.Model.Cost;

/// <summary>How a layer's multiply-accumulates count (model-contract.md "Numbers to reproduce").</summary>
public enum LayerKind
{
    /// <summary>32-bit conv: one FLOP per MAC.</summary>
    Conv,
    /// <summary>1-bit conv: MACs/64 (OPs = FLOPs + BOPs/64).</summary>
    BinaryConv,
    /// <summary>SHB's masked 3×3: like its precision, times the mask density.</summary>
    SparseConv,
    SparseBinaryConv,
    /// <summary>A module that only holds parameters (BN, PReLU, shifts, γ): no MACs counted.</summary>
    Parameters,
    /// <summary>A row summing one top-level part (backbone, aspp, decoder, …).</summary>
    Part,
}
