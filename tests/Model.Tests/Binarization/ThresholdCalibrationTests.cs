using BiVM.Model.Binarization;
using BiVM.Model.Networks;
using static TorchSharp.torch;

namespace BiVM.Model.Tests.Binarization;

public class ThresholdCalibrationTests
{
    /// <summary>
    /// The fraction of +1 signs each binary conv produces per input channel, on its first call; channels
    /// whose input is constant (a GRU's zero initial state) have no balance to find and count as 0.5.
    /// </summary>
    private static Dictionary<string, float[]> PlusFractions(MattingNetwork net, Tensor src)
    {
        var fractions = new Dictionary<string, float[]>();
        var hooks = net.named_modules().Where(m => m.module is BinaryConv2d).Select(m =>
        {
            var conv = (BinaryConv2d)m.module;
            return conv.register_forward_pre_hook((_, x) =>
            {
                if (!fractions.ContainsKey(m.name))
                {
                    var plus = (x - conv.Tau.view(1, -1, 1, 1)).ge(0).to(ScalarType.Float32).mean(new long[] { 0, 2, 3 });
                    var constant = x.amax(new long[] { 0, 2, 3 }).eq(x.amin(new long[] { 0, 2, 3 }));
                    // Read now: the forward disposes its tensors.
                    fractions[m.name] = where(constant, 0.5f, plus).data<float>().ToArray();
                }
                return x;
            });
        }).ToList();
        using (no_grad()) net.call(src, null, 1.0);
        foreach (var hook in hooks) hook.remove();
        return fractions;
    }

    [Fact]
    public void After_calibration_every_binary_activation_is_balanced_on_the_calibration_clip()
    {
        using var scope = NewDisposeScope();
        manual_seed(61);
        using var net = ModelFactory.Create(ModelConfig.For(ModelFamily.Bivm) with { Normalization = BatchNormMode.Frame });
        net.eval();
        var src = rand(new long[] { 1, 2, 3, 64, 96 });

        // Uncalibrated (τ = 0), EBB's unnormalized shortcut sums give lopsided signs somewhere.
        var before = PlusFractions(net, src);
        Assert.Contains(before.Values, f => f.Max(v => Math.Abs(v - 0.5f)) > 0.3f);

        int calibrated = ThresholdCalibration.Calibrate(net, () => net.call(src, null, 1.0));
        var after = PlusFractions(net, src);
        Assert.Equal(after.Count, calibrated);
        foreach (var (name, fraction) in after)
        {
            // The median splits each channel in half (ties at the median itself count as +1).
            float worst = fraction.Max(v => Math.Abs(v - 0.5f));
            Assert.True(worst < 0.1f, $"{name}: a channel has {fraction.Min():F2}..{fraction.Max():F2} of +1 signs");
        }
    }
}
