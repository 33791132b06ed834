using BiVM.Data.IO;
using BiVM.Data.Metrics;
using BiVM.Data.Synthesis;
using OpenCvSharp;

namespace BiVM.Data.Tests;

public class MetricTests
{
    [Fact]
    public void Mad_and_mse_hand_case()
    {
        float[] p = [0f, 0.5f, 1f, 0.25f];
        float[] g = [0f, 1f, 0.5f, 0.25f];
        // |p − g| = 0, .5, .5, 0 → mean .25 → ×1e3 = 250; (p − g)² = 0, .25, .25, 0 → mean .125 → 125.
        Assert.Equal(250, Mad.Compute(p, g), 9);
        Assert.Equal(125, Mse.Compute(p, g), 9);
        Assert.Equal(Mad.Compute(p, g), Mad.Compute(g, p), 12); // symmetric
        Assert.Equal(0, Mad.Compute(p, p));
        Assert.Equal(0, Mse.Compute(p, p));
    }

    [Fact]
    public void DtSsd_hand_case()
    {
        float[] zero = [0, 0, 0, 0];
        float[] p = [1, 0, 0, 0];
        // ((p_t − p_{t−1}) − (g_t − g_{t−1}))² = 1, 0, 0, 0 → Σ/N = 1/4 → sqrt = 0.5 → ×100 = 50.
        Assert.Equal(50, DtSsd.Compute(p, zero, zero, zero), 9);
        // The same temporal change in prediction and truth costs nothing, whatever the offset.
        Assert.Equal(0, DtSsd.Compute([0.75f, 0.25f], [0.5f, 0.25f], [0.375f, 0.875f], [0.125f, 0.875f]));
    }

    [Fact]
    public void Foreground_error_counts_only_pixels_with_true_alpha_above_zero()
    {
        float[] alpha = [0f, 0.5f];
        float[] pred = [9f, 0.2f, /*G*/ 9f, 0.4f, /*B*/ 9f, 0.6f];
        float[] truth = [0f, 0.1f, /*G*/ 0f, 0.4f, /*B*/ 0f, 0.9f];
        // Pixel 0 (α = 0) is ignored; pixel 1: |Δ| = .1, 0, .3 → MAD = .4/3·1e3; Δ² = .01, 0, .09 → MSE = .1/3·1e3.
        var (mad, mse) = ForegroundError.Compute(pred, truth, alpha);
        Assert.Equal(400.0 / 3, mad, 4);
        Assert.Equal(100.0 / 3, mse, 4);
        Assert.True(double.IsNaN(ForegroundError.Compute(pred, truth, [0f, 0f]).Mad));
    }

    [Fact]
    public void Grad_filter_is_9x9_unit_norm_and_odd_in_x()
    {
        var fx = Grad.FilterX();
        Assert.Equal(9, fx.GetLength(0));
        double sq = 0;
        foreach (double v in fx) sq += v * v;
        Assert.Equal(1, sq, 12);
        for (int i = 0; i < 9; i++)
        {
            Assert.Equal(0, fx[i, 4], 15);                 // G'(0) = 0
            Assert.Equal(-fx[i, 0], fx[i, 8], 15);         // G' is odd
            Assert.True(fx[i, 3] > 0, "G'(−1) > 0: the filter responds positively to a left-bright edge");
        }
    }

    [Fact]
    public void Grad_of_an_impulse_is_the_filters_energy()
    {
        // Correlating a unit impulse with fx and fy reproduces the filters, so Σ|∇δ|² = ‖fx‖² + ‖fy‖² = 2
        // (far from the border). Against an all-zero truth, Grad = 2 / 1000.
        const int size = 21;
        var impulse = new float[size * size];
        impulse[10 * size + 10] = 1f;
        var zero = new float[size * size];
        Assert.Equal(0.002, Grad.Compute(impulse, zero, size, size, normalize: false), 9);
        // Half the height: ¼ of the energy without normalisation; min-max normalisation restores it.
        impulse[10 * size + 10] = 0.5f;
        Assert.Equal(0.0005, Grad.Compute(impulse, zero, size, size, normalize: false), 9);
        Assert.Equal(0.002, Grad.Compute(impulse, zero, size, size, normalize: true), 9);
        Assert.Equal(0, Grad.Compute(impulse, impulse, size, size));
    }

    [Fact]
    public void Grad_magnitude_matches_opencv_filter2D_with_replicated_borders()
    {
        const int w = 23, h = 17;
        var rng = new SeededRandom(5);
        var image = new float[w * h];
        rng.FillUniform(image, 0, 1);
        var ours = Grad.GradientMagnitude(image, w, h, normalize: false);

        var fx = Grad.FilterX();
        using var kx = new Mat(9, 9, MatType.CV_32FC1);
        using var ky = new Mat(9, 9, MatType.CV_32FC1);
        for (int i = 0; i < 9; i++)
            for (int j = 0; j < 9; j++)
            {
                kx.Set(i, j, (float)fx[i, j]);
                ky.Set(i, j, (float)fx[j, i]);
            }
        using var src = Mat.FromPixelData(h, w, MatType.CV_32FC1, image);
        using var gx = new Mat();
        using var gy = new Mat();
        Cv2.Filter2D(src, gx, -1, kx, null, 0, BorderTypes.Replicate);
        Cv2.Filter2D(src, gy, -1, ky, null, 0, BorderTypes.Replicate);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                float a = gx.At<float>(y, x), b = gy.At<float>(y, x);
                Assert.Equal(MathF.Sqrt(a * a + b * b), ours[y * w + x], 4);
            }
    }

    [Fact]
    public void Conn_hand_case_with_an_unconnected_pixel()
    {
        // g = 1 everywhere; p = 1 except the corner (0). At t1 = 0.1 the intersection is the 8 other
        // pixels (one component), so the corner gets l = t0 = 0; the rest are in Ω up to t10 = 1: l = 1.
        // Corner: d_g = 1 ≥ .15 → φ_g = 0; d_p = 0 → φ_p = 1. Others: φ = 1 both. Conn = 1 / 1000.
        float[] g = [1, 1, 1, 1, 1, 1, 1, 1, 1];
        float[] p = [1, 1, 1, 1, 1, 1, 1, 1, 0];
        Assert.Equal(0.001, Conn.Compute(p, g, 3, 3), 9);
        Assert.Equal(0, Conn.Compute(g, g, 3, 3));
    }

    [Fact]
    public void Conn_hand_case_with_fractional_levels()
    {
        // g = [.5 .5; 0 0], p = [.5 .35; 0 0]. Bottom row leaves Ω at t1: l = 0 (φ = 1 both).
        // (0,1) is in Ω through t3 = .3, not at t4: l = .3; d_g = .2 ≥ .15 → φ_g = .8; d_p = .05 → φ_p = 1.
        // (0,0) stays through t5 = .5, leaves at t6: l = .5; d = 0 → φ = 1 both. Conn = .2 / 1000.
        float[] g = [0.5f, 0.5f, 0f, 0f];
        float[] p = [0.5f, 0.35f, 0f, 0f];
        Assert.Equal(0.0002, Conn.Compute(p, g, 2, 2), 7);
    }

    [Fact]
    public void Largest_component_matches_opencv_4_connectivity()
    {
        const int w = 31, h = 19;
        var rng = new SeededRandom(11);
        for (int trial = 0; trial < 20; trial++)
        {
            var mask = new bool[w * h];
            for (int i = 0; i < mask.Length; i++) mask[i] = rng.Chance(0.45);
            var labels = new int[w * h];
            int ours = Conn.LargestComponent(mask, labels, new int[w * h], w, h);

            using var bytes = new Mat(h, w, MatType.CV_8UC1);
            for (int i = 0; i < mask.Length; i++) bytes.Set(i / w, i % w, (byte)(mask[i] ? 1 : 0));
            using var cvLabels = new Mat();
            using var stats = new Mat();
            using var centroids = new Mat();
            int count = Cv2.ConnectedComponentsWithStats(bytes, cvLabels, stats, centroids, PixelConnectivity.Connectivity4);
            int best = 0, bestArea = 0;
            for (int l = 1; l < count; l++)
            {
                int area = stats.At<int>(l, (int)ConnectedComponentsTypes.Area);
                if (area > bestArea) { bestArea = area; best = l; }
            }
            for (int i = 0; i < mask.Length; i++)
                Assert.Equal(cvLabels.At<int>(i / w, i % w) == best, labels[i] == ours);
        }
    }

    [Fact]
    public void Identical_predictions_score_zero_on_every_metric_and_dtssd_starts_at_zero()
    {
        var clip = TestMedia.Clips[0];
        foreach (var (metric, values) in ClipScores.Compute(clip, clip.Pha, clip.Fgr))
            Assert.All(values, v => Assert.Equal(0, v));

        var shifted = clip.Pha.Select(a => Math.Min(1f, a + 0.1f)).ToArray();
        var scores = ClipScores.Compute(clip, shifted, clip.Fgr).ToDictionary(s => s.Metric, s => s.PerFrame);
        Assert.Equal(0, scores["pha_dtssd"][0]);
        Assert.True(scores["pha_mad"][0] > 0);
        Assert.Equal(7, scores.Count);
    }

    [Fact]
    public void Clip_scores_use_8_bit_values_like_rvms_pngs_unless_asked_not_to()
    {
        var clip = TestMedia.Clips[0];
        // An offset below half a grey level vanishes at 8 bits wherever it does not cross a rounding boundary.
        var truth8 = clip.Pha.Select(a => ClipFolder.Quantize(a) / 255f).ToArray();
        var nudged = truth8.Select(a => Math.Min(1f, a + 0.3f / 255)).ToArray();
        var eightBit = ClipScores.Compute(clip, nudged).ToDictionary(s => s.Metric, s => s.PerFrame);
        var floats = ClipScores.Compute(clip, nudged, eightBit: false).ToDictionary(s => s.Metric, s => s.PerFrame);
        Assert.All(eightBit["pha_mad"], v => Assert.Equal(0, v));
        Assert.All(floats["pha_mad"], v => Assert.True(v > 0));
    }

    [Fact]
    public void Mismatched_shapes_are_rejected_with_sizes()
    {
        var ex = Assert.Throws<ArgumentException>(() => Grad.Compute(new float[6], new float[6], 4, 2));
        Assert.Contains("4x2", ex.Message);
        Assert.Throws<ArgumentException>(() => Mad.Compute(new float[3], new float[4]));
        var clip = TestMedia.Clips[0];
        var wrong = Assert.Throws<ArgumentException>(() => ClipScores.Compute(clip, new float[10]));
        Assert.Contains($"[T={clip.Frames},1,H={clip.Height},W={clip.Width}]", wrong.Message);
    }
}
