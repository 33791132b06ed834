using BiVM.Model.Losses;
using static TorchSharp.torch;

namespace BiVM.Model.Tests.Losses;

public class MattingLossTests
{
    private static float Item(Tensor t) => t.item<float>();

    [Fact]
    public void Laplacian_levels_of_a_constant_image_are_zero()
    {
        using var scope = NewDisposeScope();
        var x = full(new long[] { 1, 1, 64, 96 }, 0.7f);
        foreach (var level in LaplacianPyramid.Build(x, 5))
            Assert.True(Item(level.abs().max()) < 1e-6f);
    }

    [Fact]
    public void Laplacian_loss_ignores_a_constant_offset_but_sees_an_edge()
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        var truth = rand(2, 1, 64, 64);
        Assert.True(Item(MattingLoss.LaplacianLoss(truth + 0.25f, truth)) < 1e-5f);   // band-pass: DC removed
        var edge = truth.clone();
        edge[.., .., 20..40, 20..40] = 1f;
        Assert.True(Item(MattingLoss.LaplacianLoss(edge, truth)) > 1e-3f);
    }

    [Fact]
    public void Laplacian_pyramid_crops_odd_sizes_level_by_level()
    {
        using var scope = NewDisposeScope();
        var levels = LaplacianPyramid.Build(zeros(1, 1, 45, 81), 3);
        Assert.Equal(new long[] { 1, 1, 44, 80 }, levels[0].shape);
        Assert.Equal(new long[] { 1, 1, 22, 40 }, levels[1].shape);
        Assert.Equal(new long[] { 1, 1, 10, 20 }, levels[2].shape);   // 11×20 cropped to even
        var ex = Assert.Throws<ArgumentException>(() => LaplacianPyramid.Build(zeros(1, 1, 40, 81), 5));
        Assert.Contains("40×81", ex.Message);
    }

    [Fact]
    public void Temporal_coherence_term_matches_a_hand_computed_case()
    {
        using var scope = NewDisposeScope();
        // Prediction jumps from 0 to 1 between two frames; the truth stays 0.
        // Frame differences: pred 1, truth 0 everywhere → MSE 1, weighted ×5.
        var predPha = stack(new[] { zeros(1, 1, 64, 64), ones(1, 1, 64, 64) }, 1);
        var truePha = zeros(new long[] { 1, 2, 1, 64, 64 });
        var fgr = zeros(new long[] { 1, 2, 3, 64, 64 });
        var terms = MattingLoss.Compute(fgr, predPha, fgr, truePha);
        Assert.Equal(5f, Item(terms.PhaCoherence), 5);
        Assert.Equal(0.5f, Item(terms.PhaL1), 5);              // half the frames are off by 1
        Assert.Equal(0f, Item(terms.FgrL1), 6);                // α* = 0 everywhere: F unsupervised
    }

    [Fact]
    public void Foreground_is_supervised_only_where_true_alpha_is_positive()
    {
        using var scope = NewDisposeScope();
        var truePha = zeros(new long[] { 1, 1, 1, 64, 64 });
        truePha[.., .., .., 0..32, ..] = 0.5f;                 // top half has α* > 0
        var trueFgr = zeros(new long[] { 1, 1, 3, 64, 64 });
        var predFgr = ones(new long[] { 1, 1, 3, 64, 64 });    // wrong by 1 everywhere
        var terms = MattingLoss.Compute(predFgr, truePha, trueFgr, truePha);
        Assert.Equal(0.5f, Item(terms.FgrL1), 5);              // only the masked half counts, mean over all pixels
        Assert.Equal(0f, Item(terms.PhaL1), 6);
        Assert.Equal(Item(terms.FgrL1), Item(terms.Total), 5);
    }

    [Fact]
    public void Wrong_shapes_are_named_in_the_error()
    {
        using var scope = NewDisposeScope();
        var ex = Assert.Throws<ArgumentException>(() => MattingLoss.Compute(zeros(new long[] { 1, 2, 3, 8, 8 }), zeros(new long[] { 1, 2, 1, 8, 8 }), zeros(new long[] { 1, 2, 3, 8, 8 }), zeros(new long[] { 1, 2, 1, 8, 9 })));
        Assert.Contains("pha", ex.Message);
        Assert.Contains("8, 9", ex.Message);
    }

    [Fact]
    public void Lbm_matches_hand_computed_values_and_is_scale_invariant()
    {
        using var scope = NewDisposeScope();
        // s = [1, 0], t = [0, 1]: normalised squares [1, 0] and [0, 1]; the difference has norm √2.
        var s = tensor(new float[] { 1, 0 }).reshape(1, 1, 1, 2);
        var t = tensor(new float[] { 0, 1 }).reshape(1, 1, 1, 2);
        var all = ones(1, 1, 1, 2);
        Assert.Equal(MathF.Sqrt(2), Item(LbmLoss.Compute(new[] { s }, new[] { t }, new[] { all })), 5);
        var left = tensor(new float[] { 1, 0 }).reshape(1, 1, 1, 2);
        Assert.Equal(1f, Item(LbmLoss.Compute(new[] { s }, new[] { t }, new[] { left })), 5);

        manual_seed(3);
        var f = randn(2, 8, 6, 10);
        var m = ones(2, 1, 6, 10);
        Assert.True(Item(LbmLoss.Compute(new[] { f * 3f }, new[] { f }, new[] { m })) < 1e-6f);
        Assert.True(Item(LbmLoss.Compute(new[] { randn(2, 8, 6, 10) }, new[] { f }, new[] { zeros(2, 1, 6, 10) })) == 0f);
    }

    [Fact]
    public void Lbm_gradient_reaches_the_student_only()
    {
        using var scope = NewDisposeScope();
        manual_seed(4);
        var s = randn(1, 4, 5, 5).requires_grad_();
        var t = randn(1, 4, 5, 5).requires_grad_();
        LbmLoss.Compute(new[] { s }, new[] { t }, new[] { ones(1, 1, 5, 5) }).backward();
        Assert.True(Item(s.grad!.abs().sum()) > 0f);
        Assert.Null(t.grad);
    }

    [Fact]
    public void Lbm_against_a_teacher_of_other_channels_compares_channel_summed_energy()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        var s = randn(2, 4, 6, 7);
        var m = ones(2, 1, 6, 7);
        // A teacher whose channels are the student's twice over has the same energy map: nothing to mimic.
        Assert.True(Item(LbmLoss.Compute(new[] { s }, new[] { cat(new[] { s, s * -1f }, 1) }, new[] { m })) < 1e-6f);
        // Otherwise: the masked distance between the unit-norm maps Σ_c f², by hand.
        var t = randn(2, 6, 6, 7);
        var a = s.square().sum(1, keepdim: true);
        var b = t.square().sum(1, keepdim: true);
        var expected = ((a / a.flatten(1).norm(1).reshape(-1, 1, 1, 1)) - (b / b.flatten(1).norm(1).reshape(-1, 1, 1, 1))).flatten(1).norm(1).mean();
        Assert.Equal(Item(expected), Item(LbmLoss.Compute(new[] { s }, new[] { t }, new[] { m })), 5);
        // A different resolution is still an error.
        Assert.Throws<ArgumentException>(() => LbmLoss.Compute(new[] { s }, new[] { randn(2, 4, 6, 8) }, new[] { m }));
    }
}
