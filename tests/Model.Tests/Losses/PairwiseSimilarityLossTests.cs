using BiVM.Model.Losses;
using static TorchSharp.torch;

namespace BiVM.Model.Tests.Losses;

/// <summary>
/// Pair-wise distillation compares which positions two networks see as alike, whatever their channels: a teacher with
/// other channel counts that sees the same pairs as alike costs nothing, one that sees other pairs as alike does.
/// </summary>
public class PairwiseSimilarityLossTests
{
    [Fact]
    public void The_similarity_of_two_positions_is_the_cosine_of_their_feature_vectors()
    {
        using var scope = NewDisposeScope();
        // One frame, 2 channels, 1×3 positions: (1, 0), (0, 2), (3, 3).
        var f = tensor(new float[] { 1, 0, 3, 0, 2, 3 }, [1, 2, 1, 3]);
        var a = PairwiseSimilarityLoss.Similarity(f);
        float r = 1 / MathF.Sqrt(2);
        var expected = tensor(new float[] { 1, 0, r, 0, 1, r, r, r, 1 }, [1, 3, 3]);
        Assert.True(a.allclose(expected, rtol: 0, atol: 1e-6), string.Join(", ", a.data<float>().ToArray()));
    }

    [Fact]
    public void A_teacher_with_other_channels_that_sees_the_same_pairs_as_alike_costs_nothing()
    {
        using var scope = NewDisposeScope();
        manual_seed(11);
        var student = randn(3, 5, 4, 6);
        // The teacher's channels: a rotation of the student's, repeated twice, on another scale per position.
        var (q, _) = linalg.qr(randn(5, 5));
        var rotated = einsum("dc,nchw->ndhw", q, student);
        var teacher = cat([rotated, rotated], 1) * (rand(3, 1, 4, 6) + 0.5);
        Assert.True(PairwiseSimilarityLoss.Compute([student], [teacher]).item<float>() < 1e-10);

        // Another teacher, other pairs alike: a loss, and the hand computation of it.
        var other = randn(3, 7, 4, 6);
        var loss = PairwiseSimilarityLoss.Compute([student, student], [other, teacher]);
        var expected = (PairwiseSimilarityLoss.Similarity(student) - PairwiseSimilarityLoss.Similarity(other)).square().mean();
        Assert.True(expected.item<float>() > 0.05, $"expected {expected.item<float>()}");
        Assert.Equal(expected.item<float>(), loss.item<float>(), 5);
    }

    [Fact]
    public void The_gradient_reaches_the_student_only_and_a_silent_position_gives_no_nan()
    {
        using var scope = NewDisposeScope();
        manual_seed(12);
        var silent = ones(2, 1, 3, 3);
        silent[0, 0, 1, 1] = tensor(0f);                        // a position with no direction in frame 0
        var student = (randn(2, 4, 3, 3) * silent).detach().requires_grad_(true);
        var teacher = randn(2, 6, 3, 3).requires_grad_(true);
        var loss = PairwiseSimilarityLoss.Compute([student], [teacher]);
        loss.backward();
        Assert.False(float.IsNaN(loss.item<float>()));
        Assert.True(student.grad is { } g && !g.isnan().any().item<bool>() && g.abs().sum().item<float>() > 0);
        Assert.Null(teacher.grad);
    }

    [Fact]
    public void Features_of_other_resolutions_or_counts_are_refused()
    {
        using var scope = NewDisposeScope();
        Assert.Contains("resolution", Assert.Throws<ArgumentException>(() => PairwiseSimilarityLoss.Compute([randn(1, 4, 3, 3)], [randn(1, 4, 3, 4)])).Message);
        Assert.Contains("same number", Assert.Throws<ArgumentException>(() => PairwiseSimilarityLoss.Compute([randn(1, 4, 3, 3)], [])).Message);
    }
}
