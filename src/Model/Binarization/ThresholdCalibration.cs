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
    public static int Calibrate(nn.Module network, Action forward)
    {
        var convs = network.modules().OfType<BinaryConv2d>().ToList();
        var done = new HashSet<BinaryConv2d>();
        var hooks = convs.Select(conv => conv.register_forward_pre_hook((module, input) =>
        {
            if (done.Add(conv))
                using (no_grad())
                {
                    // Per channel: the median over batch and positions, halfway between the two middle
                    // values for an even count (a pooled 1×1 input of two frames gets one +1 and one −1).
                    var perChannel = input.transpose(0, 1).reshape(input.shape[1], -1);
                    long n = perChannel.shape[1];
                    var (lower, _) = perChannel.kthvalue((n + 1) / 2, 1);
                    var (upper, _) = perChannel.kthvalue(n / 2 + 1, 1);
                    conv.Tau.copy_((lower + upper) / 2);
                }
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
