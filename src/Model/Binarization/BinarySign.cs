using static TorchSharp.torch;

namespace BiVM.Model.Binarization;

/// <summary>
/// The sign function of paper eq. (1) with the clipped straight-through gradient of eq. (2).
/// sign(0) = +1 (docs/model-contract.md "Sign of zero"): computed with a comparison, never
/// <c>torch.sign</c>, which maps 0 to 0 and would disagree with the lowered ONNX graph and the kernels.
/// </summary>
public static class BinarySign
{
    /// <summary>+1 where x ≥ 0, −1 elsewhere; no gradient.</summary>
    public static Tensor Hard(Tensor x)
    {
        using var plus = tensor(1.0, dtype: x.dtype, device: x.device);
        using var minus = tensor(-1.0, dtype: x.dtype, device: x.device);
        return where(x.ge(0), plus, minus).detach();
    }

    /// <summary>
    /// Forward: exactly <see cref="Hard"/> (the added term c − c.detach() is exactly 0, so no rounding
    /// creeps in, unlike the usual hard − c + c). Backward: the gradient of clamp(x, −1, 1), i.e.
    /// ∂L/∂x = ∂L/∂sign(x) where |x| ≤ 1 and 0 elsewhere (eq. 2).
    /// </summary>
    public static Tensor WithClippedSte(Tensor x)
    {
        var clipped = x.clamp(-1, 1);
        return Hard(x) + (clipped - clipped.detach());
    }
}
