using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Binarization;

/// <summary>
/// The 1-bit convolution used everywhere (paper eqs. 1–4): o = s · sign(w) ⊛ sign(a − τ).
/// <list type="bullet">
/// <item>activations: sign(a − τ) with a learnable per-input-channel threshold τ, initialised to 0
/// (eq. 3; ReActNet's RSign is the same thing with its shift b = −τ);</item>
/// <item>weights: sign(w_latent), and the per-output-channel scale s = mean|w_latent| over
/// (Cin, kh, kw) applied to the conv's output (eq. 4); s is detached as in ReActNet's HardBinaryConv,
/// the latent weight gets the straight-through gradient of clamp(w, −1, 1);</item>
/// <item>padding: zeros, exactly like conv2d (padded positions contribute 0, not ±1), which is what the
/// <c>BinaryConv2d</c> custom operator reproduces.</item>
/// </list>
/// The exporter reads <see cref="LatentWeight"/>, <see cref="Tau"/>, <see cref="Scale"/>, <see cref="Bias"/>
/// and the geometry properties; the BatchNorm that follows lives in <see cref="ConvBnAct"/>.
/// </summary>
public sealed class BinaryConv2d : Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter tau;
    private readonly Parameter? bias;
    private readonly Tensor gain;

    public BinaryConv2d(long inChannels, long outChannels, long kernelSize, long stride = 1, long dilation = 1, bool hasBias = false)
        : base(nameof(BinaryConv2d))
    {
        Numerics.LibTorchNumerics.EnsureVerified();
        if (kernelSize % 2 == 0) throw new ArgumentException($"kernel size {kernelSize}: only odd kernels have 'same' zero padding", nameof(kernelSize));
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Stride = stride;
        Dilation = dilation;
        Padding = (kernelSize - 1) / 2 * dilation;
        // Same initialisation as nn.Conv2d (kaiming-uniform, a = √5): U(−1/√fan_in, 1/√fan_in).
        var bound = 1.0 / Math.Sqrt(inChannels * kernelSize * kernelSize);
        weight = Parameter(empty(outChannels, inChannels, kernelSize, kernelSize).uniform_(-bound, bound));
        tau = Parameter(zeros(inChannels));
        bias = hasBias ? Parameter(empty(outChannels).uniform_(-bound, bound)) : null;
        gain = ones(outChannels);
        RegisterComponents();
    }

    public long InChannels { get; }
    public long OutChannels { get; }
    public long KernelSize { get; }
    public long Stride { get; }
    public long Dilation { get; }
    /// <summary>Zero padding on every side, (k − 1)/2 · dilation ("same" for stride 1).</summary>
    public long Padding { get; }

    /// <summary>Latent (real-valued) weight [Cout, Cin, k, k]; its sign (w ≥ 0 → +1) is the 1-bit weight.</summary>
    public Parameter LatentWeight => weight;

    /// <summary>Learned activation threshold τ [Cin].</summary>
    public Parameter Tau => tau;

    public Parameter? Bias => bias;

    /// <summary>
    /// Per-output-channel scale s = g·mean|w_latent| over (Cin, kh, kw), [Cout] (eq. 4, with the fixed gain g of
    /// <see cref="Gain"/>; 1 unless set).
    /// </summary>
    public Tensor Scale() => weight.abs().mean(new long[] { 1, 2, 3 }) * gain;

    /// <summary>
    /// A fixed (not trained) per-output-channel factor [Cout] on the 1-bit output, 1 by default. Progressive
    /// binarization sets it once, before the first step, to the ratio of the 32-bit conv's RMS to the 1-bit conv's on
    /// the same inputs (<see cref="ProgressiveBinarization.CalibrateGains"/>): the 1-bit sum s·Σ±1 is on another scale
    /// than w·x (its inputs are ±1, not x), and a blend of the two parts on different scales is ruled by the larger.
    /// Part of the weights (a buffer), folded into the exported scale. Checkpoints written before it existed load with 1.
    /// </summary>
    public Tensor Gain => gain;

    /// <summary>
    /// How binary the conv is, in [0, 1]: 1 (the default, and the only value that exports) is the 1-bit conv; below 1
    /// the output is β·(1-bit conv) + (1 − β)·(the 32-bit conv of the same latent weights on the raw input), the conv's
    /// half of progressive binarization (<see cref="ProgressiveBinarization"/>).
    /// </summary>
    public double Binarization
    {
        get => binarization;
        set => binarization = ProgressiveBinarization.Checked(value);
    }
    private double binarization = 1;

    /// <summary>The ±1 weights, w ≥ 0 → +1 (model-contract "Weights").</summary>
    public Tensor SignWeight() => BinarySign.Hard(weight);

    public override Tensor forward(Tensor x)
    {
        var activation = BinarySign.WithClippedSte(x - tau.view(1, -1, 1, 1));
        var scale = weight.abs().mean(new long[] { 1, 2, 3 }, keepdim: true).detach();
        var clipped = weight.clamp(-1, 1);
        // Forward value exactly sign(w) (the added term is exactly 0); the gradient reaching w is that of
        // clamp(w, −1, 1) — the /scale cancels the ·scale below, so it equals ReActNet's, where the
        // scale sits inside the weight.
        var signs = BinarySign.Hard(weight) + (clipped - clipped.detach()) / scale.clamp_min(1e-12);
        // Eq. (4) in this order, o = s · (b_w ⊛ b_a): the ±1 conv sums small integers, exact in float32
        // whatever the summation order, so a zero sum is exactly 0 as in the XNOR–popcount kernels, and a
        // batch of frames gives bit-identical results to the frames one by one.
        var y = Conv(activation, signs) * (scale.view(1, -1, 1, 1) * gain.view(1, -1, 1, 1));
        if (binarization < 1)
        {
            var real = RealConv(x);
            y = binarization == 0 ? real : y * binarization + real * (1 - binarization);
        }
        return bias is null ? y : y + bias.view(1, -1, 1, 1);
    }

    /// <summary>The 32-bit conv of the latent weights on the raw input, without bias: what β below 1 blends in.</summary>
    internal Tensor RealConv(Tensor x) => Conv(x, weight);

    /// <summary>The 1-bit conv with gain 1 and without bias, no gradient: what <see cref="Gain"/> is calibrated against.</summary>
    internal Tensor BinaryConvUngained(Tensor x)
    {
        using var _ = no_grad();
        return Conv(BinarySign.Hard(x - tau.view(1, -1, 1, 1)), SignWeight()) * weight.abs().mean(new long[] { 1, 2, 3 }).view(1, -1, 1, 1);
    }

    /// <summary>This layer's geometry (stride, "same" zero padding, dilation) applied to <paramref name="input"/> and <paramref name="weights"/>.</summary>
    private Tensor Conv(Tensor input, Tensor weights) => functional.conv2d(input, weights,
        strides: new[] { Stride, Stride }, padding: new[] { Padding, Padding }, dilation: new[] { Dilation, Dilation });
}
