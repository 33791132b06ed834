using static TorchSharp.torch;

namespace BiVM.Model.Binarization;

/// <summary>
/// Turns a 32-bit network into its 1-bit counterpart gradually instead of in one step. Every
/// <see cref="BinaryConv2d"/> and <see cref="RPReLU"/> computes β·(its 1-bit self) + (1 − β)·(the 32-bit conv or
/// activation it replaces); training raises β from 0 to 1 (<c>binarizeSteps</c> in a training config). At β = 0 a
/// network whose latent weights were copied from a 32-bit one computes exactly that network's function (with the
/// RPReLU slopes at 0, <see cref="StartFromRelu"/>); at β = 1 it is the 1-bit network, the only state that exports.
/// Why: binarizing the published RVM's 1×1 and decoder convs in one step replaced the function its weights compute,
/// and no schedule of rate or normalization brought it back (docs/people.md); a path that changes the function a
/// little at a time lets the rest of the network follow.
/// </summary>
public static class ProgressiveBinarization
{
    /// <summary>Sets β of every binary conv and RPReLU of <paramref name="network"/>; returns how many modules.</summary>
    public static int Set(nn.Module network, double binarization)
    {
        Checked(binarization);
        int count = 0;
        foreach (var module in WithItself(network))
        {
            switch (module)
            {
                case BinaryConv2d conv: conv.Binarization = binarization; count++; break;
                case RPReLU act: act.Binarization = binarization; count++; break;
            }
        }
        return count;
    }

    /// <summary>β of the network's modules: 1 when it has none, and an error when they differ (a half-set network).</summary>
    public static double Of(nn.Module network)
    {
        var values = WithItself(network).Select(m => m switch
        {
            BinaryConv2d conv => conv.Binarization,
            RPReLU act => act.Binarization,
            _ => double.NaN,
        }).Where(v => !double.IsNaN(v)).Distinct().ToList();
        return values.Count switch
        {
            0 => 1,
            1 => values[0],
            _ => throw new InvalidOperationException($"binarization differs between modules: {string.Join(", ", values)}"),
        };
    }

    /// <summary>
    /// Every RPReLU's PReLU slope to 0, so that an RPReLU with its shifts at 0 is a ReLU: the 32-bit network's
    /// activation where it was ReLU, and the RPReLU's starting point where the blend ends. Returns how many.
    /// </summary>
    public static int StartFromRelu(nn.Module network)
    {
        int count = 0;
        using (no_grad())
            foreach (var act in WithItself(network).OfType<RPReLU>())
            {
                act.Slope.zero_();
                count++;
            }
        return count;
    }

    /// <summary>
    /// Runs <paramref name="forward"/> once without gradients (the network at β = 0, thresholds already calibrated);
    /// every <see cref="BinaryConv2d"/> sets its <see cref="BinaryConv2d.Gain"/> per output channel to RMS(32-bit conv) /
    /// RMS(1-bit conv) of its input, so that both parts of the blend, and the 1-bit conv at the end, stay on the scale the
    /// layers after it were trained on (a fixed BatchNorm's statistics, a gate's sigmoid). Returns how many were set.
    /// </summary>
    public static int CalibrateGains(nn.Module network, Action forward) => ThresholdCalibration.OnFirstInput(network, forward, (conv, input) =>
    {
        var dims = new long[] { 0, 2, 3 };
        var real = conv.RealConv(input).square().mean(dims).sqrt();
        var binary = conv.BinaryConvUngained(input).square().mean(dims).sqrt();
        // A channel whose 1-bit output is 0 everywhere (or whose 32-bit one is) keeps gain 1.
        conv.Gain.copy_(where(binary.gt(1e-12) & real.gt(1e-12), real / binary.clamp_min(1e-12), ones_like(real)));
    });

    /// <summary>β at 0-based <paramref name="step"/> of a ramp over <paramref name="steps"/> steps: linear from 0, 1 after it.</summary>
    public static double At(long step, long steps) => steps <= 0 || step >= steps ? 1 : (double)step / steps;

    /// <summary>TorchSharp's <c>modules()</c> lists the submodules only; a single conv or activation is a network too.</summary>
    internal static IEnumerable<nn.Module> WithItself(nn.Module network) => network.modules().Prepend(network).Distinct();

    internal static double Checked(double value) =>
        value is >= 0 and <= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "binarization is in [0, 1]");
}
