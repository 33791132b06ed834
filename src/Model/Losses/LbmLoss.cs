using static TorchSharp.torch;

namespace BiVM.Model.Losses;

/// <summary>
/// Localized Binarization-aware Mimicking, paper eq. 20:
/// L_LBM = Σ_f ‖ m ⊙ ( f²/‖f²‖₂ − f_FP²/‖f_FP²‖₂ ) ‖₂ over the encoder features at 1/2, 1/4, 1/8, 1/16.
/// ‖·‖₂ normalises each sample's whole squared map (C·H·W values), so the loss compares where
/// the energy of the features lies, not its scale, which differs between 1-bit and FP networks.
/// m is the SHB incoherent-region mask, already upsampled to each feature's resolution
/// (broadcast over channels). The teacher's features carry no gradient.
/// <para>
/// A teacher of another architecture (the published RVM's MobileNetV3 has 16/24/40/960 channels where BiVM's
/// encoder has 16/32/64/1024, at the same resolutions) has no channel to compare each channel with. There each map
/// is first summed over its channels: Σ_c f² is attention transfer's spatial attention map (Zagoruyko &amp; Komodakis,
/// ICLR 2017), and eq. 20 then compares where in the frame the energy lies, the part of the teacher's knowledge that
/// does not depend on how it names its channels.
/// </para>
/// </summary>
public static class LbmLoss
{
    /// <summary>The paper's λ_LBM (eq. 21).</summary>
    public const double DefaultWeight = 1e-4;

    public static Tensor Compute(IReadOnlyList<Tensor> student, IReadOnlyList<Tensor> teacher, IReadOnlyList<Tensor> masks)
    {
        if (student.Count != teacher.Count || student.Count != masks.Count)
            throw new ArgumentException($"LbmLoss: {student.Count} student features, {teacher.Count} teacher features and {masks.Count} masks must be the same number");
        Tensor? total = null;
        for (int i = 0; i < student.Count; i++)
        {
            var s = student[i];
            var t = teacher[i].detach();
            bool sameChannels = s.shape[1] == t.shape[1];
            if (s.dim() != 4 || t.dim() != 4 || s.shape[0] != t.shape[0] || s.shape[2] != t.shape[2] || s.shape[3] != t.shape[3])
                throw new ArgumentException($"LbmLoss: feature {i}: student [{string.Join(", ", s.shape)}] and teacher [{string.Join(", ", t.shape)}] differ in batch or resolution");
            var m = masks[i].to(s.dtype);
            if (m.dim() != 4 || m.shape[0] != s.shape[0] || m.shape[1] != 1 || m.shape[2] != s.shape[2] || m.shape[3] != s.shape[3])
                throw new ArgumentException($"LbmLoss: mask {i} must be [{s.shape[0]}, 1, {s.shape[2]}, {s.shape[3]}], got [{string.Join(", ", m.shape)}]");
            var diff = m * (NormalizedSquare(s, sumChannels: !sameChannels) - NormalizedSquare(t, sumChannels: !sameChannels));
            var perSample = diff.flatten(1).norm(1);   // ‖·‖₂ over C·H·W
            var term = perSample.mean();
            total = total is null ? term : total + term;
        }
        return total ?? throw new ArgumentException("LbmLoss: no features given");
    }

    private static Tensor NormalizedSquare(Tensor f, bool sumChannels)
    {
        var sq = sumChannels ? f.square().sum(1, keepdim: true) : f.square();
        var norm = sq.flatten(1).norm(1).clamp_min(1e-12).reshape(-1, 1, 1, 1);
        return sq / norm;
    }
}
