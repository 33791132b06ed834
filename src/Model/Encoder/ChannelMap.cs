using static TorchSharp.torch;

namespace BiVM.Model.Encoder;

/// <summary>
/// The parameter-free shortcut mapping f of paper eq. (10) (its condition gcd(c_x, c_o) ∈ {c_x, c_o} is eq. 9's):
/// split into c_x/c_o contiguous chunks and average them to reduce; concatenate c_o/c_x copies to
/// expand; identity otherwise. Where the shortcut skips a strided conv, a fixed 2×2 average pool
/// (ceil mode, padding excluded) aligns the resolution: section 3.3.1's "fixed pooling mappings for
/// inconsistent dimensions", and it gives ceil(H/2) exactly like the stride-2 3×3 conv.
/// </summary>
public static class ChannelMap
{
    public static void Validate(long inChannels, long outChannels)
    {
        if (inChannels % outChannels != 0 && outChannels % inChannels != 0)
            throw new ArgumentException($"channel map {inChannels}→{outChannels}: gcd must be one of them (paper eq. 9)");
    }

    public static Tensor Map(Tensor x, long outChannels, long stride = 1)
    {
        if (stride == 2) x = Resample.Down2(x);
        else if (stride != 1) throw new ArgumentException($"stride {stride}: only 1 and 2 have a pooling map", nameof(stride));
        var inChannels = x.shape[1];
        if (inChannels == outChannels) return x;
        Validate(inChannels, outChannels);
        if (inChannels > outChannels)
        {
            var n = x.shape[0];
            return x.reshape(n, inChannels / outChannels, outChannels, x.shape[2], x.shape[3]).mean(new long[] { 1 });
        }
        return x.repeat(1, outChannels / inChannels, 1, 1);
    }
}
