using static TorchSharp.torch;

namespace BiVM.Model.Decoder;

/// <summary>
/// SHB's incoherent-region mask (paper eqs. 14–16), computed from the bottleneck output at 1/16:
///   d = mean_c |f − S↑(S↓(f))|,  m_inc^τ = bool(d − τ)  (bool(x) = 1 iff x ≥ 0),
///   τ* = argmax_τ H(sign(M(f; m_inc^τ))), the entropy of the signs (f ≥ 0 → +1) of the masked features.
/// The paper leaves the channel reduction of |·| and the τ search open: d is averaged over channels
/// (one mask for all channels, as the operator's Mask input is [N,1,h,w]), and τ ranges over the
/// per-frame quantiles of d that keep the candidate densities; ties go to the sparser mask.
/// No gradient flows through the mask.
/// </summary>
public sealed class IncoherentMask
{
    public IncoherentMask(IReadOnlyList<double> candidateDensities)
    {
        if (candidateDensities.Count == 0 || candidateDensities.Any(d => d <= 0 || d > 1))
            throw new ArgumentException("candidate mask densities must lie in (0, 1]", nameof(candidateDensities));
        CandidateDensities = candidateDensities.OrderBy(d => d).ToArray();
    }

    /// <summary>Fractions of active positions that τ may give, sparsest first.</summary>
    public IReadOnlyList<double> CandidateDensities { get; }

    /// <summary>The mask [N, 1, h, w] (float 0/1) for features f [N, C, h, w] at 1/16.</summary>
    public Tensor Compute(Tensor features)
    {
        using var _ = no_grad();
        var (n, c, h, w) = (features.shape[0], features.shape[1], features.shape[2], features.shape[3]);
        var incoherence = (features - Resample.Up2To(Resample.Down2(features), h, w)).abs().mean(new long[] { 1 }).view(n, h * w);
        var positives = features.ge(0).to_type(features.dtype).sum(1).view(n, 1, h * w);

        // Candidate thresholds: the value of d above which a fraction `density` of positions lies.
        var sorted = incoherence.sort(1).Values;
        var count = h * w;
        var indices = CandidateDensities.Select(d => Math.Clamp((long)Math.Floor((1 - d) * count), 0, count - 1)).ToArray();
        var thresholds = sorted.index_select(1, tensor(indices)); // [N, K]
        var masks = incoherence.unsqueeze(1).ge(thresholds.unsqueeze(2)).to_type(features.dtype); // [N, K, P]
        var masked = masks.sum(2) * c;
        var positive = (masks * positives).sum(2);
        var p = (positive / masked).clamp(1e-12, 1 - 1e-12);
        var entropy = -(p * p.log() + (1 - p) * (1 - p).log()); // [N, K], eq. (16)
        var best = entropy.argmax(1, keepdim: true);
        var tauStar = thresholds.gather(1, best); // [N, 1]
        return incoherence.ge(tauStar).to_type(features.dtype).view(n, 1, h, w);
    }

    /// <summary>
    /// The binding upsampling rule (model-contract.md, "Mask upsampling"): output (y, x) is active iff
    /// mask[n, 0, ⌊y/k⌋, ⌊x/k⌋] ≠ 0, i.e. repeat_interleave(k) along H and W, then crop to (H_out, W_out).
    /// The mask must be [N, 1, ⌈H_out/k⌉, ⌈W_out/k⌉].
    /// </summary>
    public static Tensor Upsample(Tensor mask, long k, long heightOut, long widthOut)
    {
        var expectedH = (heightOut + k - 1) / k;
        var expectedW = (widthOut + k - 1) / k;
        if (mask.ndim != 4 || mask.shape[1] != 1 || mask.shape[2] != expectedH || mask.shape[3] != expectedW)
            throw new ArgumentException($"SHB mask must be [N,1,{expectedH},{expectedW}] for a {heightOut}×{widthOut} output at scale {k}, got [{string.Join(",", mask.shape)}]");
        if (k == 1) return mask;
        var up = mask.repeat_interleave(k, 2).repeat_interleave(k, 3);
        return up[.., .., ..(int)heightOut, ..(int)widthOut];
    }
}
