using static TorchSharp.torch;

namespace BiVM.Model.Binarization;

/// <summary>
/// Data-dependent initialisation of the activation thresholds τ (eq. 3): each binary conv's τ becomes
/// the per-channel median of its input on one clip, so that every sign(a − τ) starts balanced, +1 and −1
/// equally often, the most information one bit can carry (the principle of section 3.2).
/// Why: BiVM's encoder adds shortcuts block after block with no normalization on the sum, so its inputs
/// drift to a standard deviation of ~5 with a positive mean; with τ = 0 up to 91 % of a layer's signs were
/// +1 (measured on a BiVM initialized from its 32-bit counterpart, after 900 steps), and τ moves by about
/// the learning rate per step. RVM-ReActNet's binary convs read BatchNorm outputs and start balanced.
/// </summary>
public static class ThresholdCalibration
{
    /// <summary>
    /// Runs <paramref name="forward"/> once without gradients; every <see cref="BinaryConv2d"/> of
    /// <paramref name="network"/> takes its τ from its input on its first call, before computing, so later
    /// layers see inputs already produced with the calibrated thresholds. Returns the number calibrated.
    /// </summary>
    public static int Calibrate(nn.Module network, Action forward) => OnFirstInput(network, forward, (conv, input) =>
    {
        // Per channel: the median over batch and positions, halfway between the two middle
        // values for an even count (a pooled 1×1 input of two frames gets one +1 and one −1).
        var perChannel = input.transpose(0, 1).reshape(input.shape[1], -1);
        long n = perChannel.shape[1];
        var (lower, _) = perChannel.kthvalue((n + 1) / 2, 1);
        var (upper, _) = perChannel.kthvalue(n / 2 + 1, 1);
        conv.Tau.copy_((lower + upper) / 2);
    });

    /// <summary>
    /// The calibration pass shared with <see cref="ProgressiveBinarization.CalibrateGains"/>: runs <paramref name="forward"/>
    /// once without gradients, and every <see cref="BinaryConv2d"/> of <paramref name="network"/> (itself included)
    /// passes its input to <paramref name="calibrate"/> on its first call, before computing, so that later layers see
    /// inputs already produced with the calibrated values. Returns the number of convs calibrated.
    /// </summary>
    internal static int OnFirstInput(nn.Module network, Action forward, Action<BinaryConv2d, Tensor> calibrate)
    {
        var convs = ProgressiveBinarization.WithItself(network).OfType<BinaryConv2d>().ToList();
        var done = new HashSet<BinaryConv2d>();
        var hooks = convs.Select(conv => conv.register_forward_pre_hook((module, input) =>
        {
            if (done.Add(conv))
                using (no_grad())
                    calibrate(conv, input);
            return input;
        })).ToList();
        try
        {
            using (no_grad()) forward();
        }
        finally
        {
            foreach (var hook in hooks) hook.remove();
        }
        return done.Count;
    }
}
