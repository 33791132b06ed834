namespace BiVM.Model.Binarization;

/// <summary>The activations the three families use after a conv + BN.</summary>
public enum ActivationKind
{
    None,
    Relu,
    Hardswish,
    /// <summary>ReActNet's RPReLU: learnable shift, PReLU, learnable shift.</summary>
    RPReLU,
}
