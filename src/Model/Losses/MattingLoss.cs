using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BiVM.Model.Losses;

/// <summary>The five terms of the matting loss, each already weighted, and their sum.</summary>
public sealed record MattingLossTerms(Tensor PhaL1, Tensor PhaLaplacian, Tensor PhaCoherence, Tensor FgrL1, Tensor FgrCoherence)
{
    public Tensor Total => PhaL1 + PhaLaplacian + PhaCoherence + FgrL1 + FgrCoherence;

    /// <summary>Scalar values for logging, in the order of the record.</summary>
    public IReadOnlyDictionary<string, double> ToDictionary() => new Dictionary<string, double>
    {
        ["pha_l1"] = PhaL1.item<float>(),
        ["pha_laplacian"] = PhaLaplacian.item<float>(),
        ["pha_coherence"] = PhaCoherence.item<float>(),
        ["fgr_l1"] = FgrL1.item<float>(),
        ["fgr_coherence"] = FgrCoherence.item<float>(),
    };
}

/// <summary>
/// L^M of the paper (eq. 19), written as RVM's train_loss.py computes it:
/// L1(α) + Laplacian(α) + 5·TC(α) + L1(F·[α*>0]) + 5·TC(F·[α*>0]), on clips [B, T, C, H, W].
/// TC is the mean squared difference of consecutive-frame differences (temporal coherence).
/// </summary>
public static class MattingLoss
{
    public const int LaplacianLevels = 5;
    public const float CoherenceWeight = 5f;

    public static MattingLossTerms Compute(Tensor predFgr, Tensor predPha, Tensor trueFgr, Tensor truePha)
    {
        CheckClip(predPha, truePha, 1, "pha");
        CheckClip(predFgr, trueFgr, 3, "fgr");

        var phaL1 = F.l1_loss(predPha, truePha);
        var phaLap = LaplacianLoss(predPha.flatten(0, 1), truePha.flatten(0, 1));
        var phaTc = Coherence(predPha, truePha);

        // Foreground is supervised only where the true alpha is non-zero (elsewhere F is undefined).
        var mask = truePha.gt(0).to(predFgr.dtype);
        var pf = predFgr * mask;
        var tf = trueFgr * mask;
        var fgrL1 = F.l1_loss(pf, tf);
        var fgrTc = Coherence(pf, tf);
        return new MattingLossTerms(phaL1, phaLap, phaTc, fgrL1, fgrTc);
    }

    /// <summary>(1/L)·Σ_l 2^l·mean|L_l(pred) − L_l(true)| over 5 pyramid levels, on [N, C, H, W].</summary>
    public static Tensor LaplacianLoss(Tensor pred, Tensor truth)
    {
        var p = LaplacianPyramid.Build(pred, LaplacianLevels);
        var t = LaplacianPyramid.Build(truth, LaplacianLevels);
        var loss = zeros(1, pred.dtype, pred.device).squeeze();
        for (int l = 0; l < LaplacianLevels; l++)
            loss = loss + MathF.Pow(2, l) * F.l1_loss(p[l], t[l]);
        return loss / LaplacianLevels;
    }

    private static Tensor Coherence(Tensor pred, Tensor truth)
    {
        if (pred.shape[1] < 2) return zeros(1, pred.dtype, pred.device).squeeze();
        var dp = pred[.., 1..] - pred[.., ..^1];
        var dt = truth[.., 1..] - truth[.., ..^1];
        return F.mse_loss(dp, dt) * CoherenceWeight;
    }

    private static void CheckClip(Tensor pred, Tensor truth, int channels, string name)
    {
        if (pred.dim() != 5 || pred.shape[2] != channels)
            throw new ArgumentException($"MattingLoss: predicted {name} must be [B, T, {channels}, H, W], got [{string.Join(", ", pred.shape)}]");
        if (!pred.shape.SequenceEqual(truth.shape))
            throw new ArgumentException($"MattingLoss: predicted {name} [{string.Join(", ", pred.shape)}] and ground truth [{string.Join(", ", truth.shape)}] differ in shape");
    }
}
