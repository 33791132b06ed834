using static TorchSharp.torch;

namespace BiVM.Model.Losses;

/// <summary>
/// Pair-wise distillation (Liu et al., "Structured Knowledge Distillation for Semantic Segmentation", CVPR 2019): per
/// frame, the cosine similarity of the feature vectors at every pair of positions, a_ij = f_i·f_j / (‖f_i‖‖f_j‖), is
/// compared with the teacher's: L = mean over frames and pairs of (a_ij − a_ij^T)².
/// <para>
/// Why here: LBM (<see cref="LbmLoss"/>) against a teacher of another architecture can only compare where the features'
/// energy lies (its channels have no counterparts). The similarity matrix is also independent of how either network
/// names or counts its channels, but it says which positions the teacher sees as alike: the pixels of one person
/// against each other and against the background, the part of its knowledge a matting student needs. Computed at the
/// coarse features only (1/8 and 1/16 of the frame): N positions make an N×N matrix.
/// </para>
/// </summary>
public static class PairwiseSimilarityLoss
{
    /// <param name="student">Feature maps [frames, C_s, H, W].</param>
    /// <param name="teacher">The teacher's at the same resolutions [frames, C_t, H, W]; they carry no gradient.</param>
    public static Tensor Compute(IReadOnlyList<Tensor> student, IReadOnlyList<Tensor> teacher)
    {
        if (student.Count != teacher.Count || student.Count == 0)
            throw new ArgumentException($"PairwiseSimilarityLoss: {student.Count} student and {teacher.Count} teacher features: need the same number, at least one");
        Tensor? total = null;
        for (int i = 0; i < student.Count; i++)
        {
            var s = student[i];
            var t = teacher[i].detach();
            if (s.dim() != 4 || t.dim() != 4 || s.shape[0] != t.shape[0] || s.shape[2] != t.shape[2] || s.shape[3] != t.shape[3])
                throw new ArgumentException($"PairwiseSimilarityLoss: feature {i}: student [{string.Join(", ", s.shape)}] and teacher [{string.Join(", ", t.shape)}] differ in frames or resolution");
            var term = (Similarity(s) - Similarity(t)).square().mean();
            total = total is null ? term : total + term;
        }
        return total!;
    }

    /// <summary>[frames, C, H, W] → [frames, H·W, H·W]: cosine similarity of every pair of positions' feature vectors.</summary>
    public static Tensor Similarity(Tensor features)
    {
        // A position whose features are all 0 has no direction: its row and column are 0 (the clamp), not NaN.
        var f = features.flatten(2);                                             // [n, C, N]
        var unit = f / f.norm(1, keepdim: true).clamp_min(1e-8);                 // each position's vector to unit length
        return unit.transpose(1, 2).bmm(unit);                                  // [n, N, N]
    }
}
