using BiVM.Model.Binarization;
using BiVM.Model.Networks;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace BiVM.Export.Tests;

/// <summary>
/// The activations of the binary convs that lie within float rounding of their threshold τ ("ties"): the only
/// places where TorchSharp and ONNX Runtime may legitimately take different signs, because the float ops before
/// them round differently (oneDNN's ISA, ORT's and our kernels' summation orders differ per host). δ = 2e-6 of
/// the layer's largest |a|, a dozen float32 ulps of it, far above what two correct summation orders differ by.
/// Exact zeros are never ties: they come from exact sources (the first frame's zero state, ReLU, padding).
/// <para>
/// The parity tests make the comparison exact where it can be and bounded where a flip is legitimate:
/// <list type="number">
/// <item><see cref="Separate"/> moves each threshold with a tie on the test frames into the middle of the gap
/// between its channel's activations below and above it, where that gap is wider than 2δ. No sign changes, so
/// TorchSharp's outputs stay bit-identical, and those ties are gone. Randomized networks then have none left.</item>
/// <item>What is left are clusters of rounding noise around τ (differences of equal values, say), where some
/// sign is ambiguous on every host. <see cref="AssertAgree"/> asks for the float tolerance where the outputs meet
/// it; where they do not, for ties to have been seen and the difference to stay within twice what flipping every
/// remaining tie moves TorchSharp's own outputs (a run with <c>flip</c>).</item>
/// </list>
/// A bound on the outputs alone could not tell a flip from a defect in a chaotic network (in a randomized BiVM,
/// flipping 45 ties moved fgr by 0.49), which is why the ties are separated first wherever the gap allows.
/// </para>
/// Hooked into every <see cref="BinaryConv2d"/> of a network while alive (TorchSharp forward pre-hooks).
/// </summary>
internal sealed class ThresholdTies : IDisposable
{
    public const double RelativeRounding = 2e-6;

    private readonly List<Action> _removeHooks = [];
    private readonly bool _flip;
    private readonly Dictionary<BinaryConv2d, (Tensor Below, Tensor Above, double Delta)>? _gaps;

    public ThresholdTies(MattingNetwork network, bool recordGaps = false, bool flip = false)
    {
        HasBinaryConvs = network.modules().OfType<BinaryConv2d>().Any();
        _flip = flip;
        if (recordGaps) _gaps = [];
        foreach (var conv in network.modules().OfType<BinaryConv2d>())
            _removeHooks.Add(conv.register_forward_pre_hook((module, input) => Visit((BinaryConv2d)module, input)).remove);
    }

    public bool HasBinaryConvs { get; }
    public long Ties { get; private set; }
    public long Activations { get; private set; }

    private Tensor Visit(BinaryConv2d conv, Tensor input)
    {
        using var _ = no_grad();
        var tau = conv.Tau.detach().view(1, -1, 1, 1);
        var delta = RelativeRounding * input.abs().max().item<float>();
        var margin = input - tau;
        var tied = margin.abs().le(delta).logical_and(input.ne(0));
        Ties += tied.sum().item<long>();
        Activations += input.numel();
        if (_gaps is not null)
        {
            // Per channel, the largest activation below τ and the smallest at or above it, over every call.
            long[] notChannel = [0, 2, 3];
            var below = where(input.lt(tau), input, float.NegativeInfinity).amax(notChannel);
            var above = where(input.ge(tau), input, float.PositiveInfinity).amin(notChannel);
            if (_gaps.TryGetValue(conv, out var gap))
            {
                below = maximum(below, gap.Below);
                above = minimum(above, gap.Above);
                gap.Below.Dispose();
                gap.Above.Dispose();
            }
            _gaps[conv] = (below.DetachFromDisposeScope(), above.DetachFromDisposeScope(), Math.Max(delta, gap.Delta));
        }
        // Two δ across τ: the sign is unambiguous, nothing else changes (BinaryConv2d reads its input only for the sign).
        return _flip ? where(tied, where(margin.ge(0), tau - 2 * delta, tau + 2 * delta), input) : input;
    }

    public void Dispose()
    {
        foreach (var remove in _removeHooks) remove();
        _removeHooks.Clear();
        if (_gaps is null) return;
        foreach (var (below, above, _) in _gaps.Values) { below.Dispose(); above.Dispose(); }
        _gaps.Clear();
    }

    /// <summary>
    /// Moves every threshold that has a tie on <paramref name="frames"/>, and a gap wider than 2δ between its
    /// channel's activations below and above it, to the middle of that gap. No sign changes. Call before exporting.
    /// </summary>
    public static void Separate(MattingNetwork network, IReadOnlyList<float[]> frames, int[] shape, double ratio, ITestOutputHelper log)
    {
        using var recorded = new ThresholdTies(network, recordGaps: true);
        Run(network, frames, shape, ratio);
        int moved = 0, clusters = 0;
        double largest = 0;
        using (no_grad())
        {
            foreach (var (conv, (below, above, delta)) in recorded._gaps!)
            {
                var lo = below.data<float>().ToArray();
                var hi = above.data<float>().ToArray();
                for (int c = 0; c < lo.Length; c++)
                {
                    float tau = conv.Tau[c].item<float>();
                    if (Math.Min(tau - (double)lo[c], hi[c] - (double)tau) > delta) continue;
                    if (hi[c] - (double)lo[c] <= 2 * delta) { clusters++; continue; }
                    // A channel with no activation on one side has an infinite gap: 2δ past its nearest one.
                    float middle = float.IsNegativeInfinity(lo[c]) ? (float)(hi[c] - 2 * delta)
                        : float.IsPositiveInfinity(hi[c]) ? (float)(lo[c] + 2 * delta)
                        : (float)((lo[c] + (double)hi[c]) / 2);
                    largest = Math.Max(largest, Math.Abs(middle - tau));
                    conv.Tau[c] = middle;
                    moved++;
                }
            }
        }
        log.WriteLine($"  ties: {recorded.Ties} of {recorded.Activations} activations within {RelativeRounding:G} of τ; " +
            $"{moved} threshold(s) moved into their gaps (by at most {largest:E2}), {clusters} with a cluster of noise around τ");
    }

    /// <summary>TorchSharp over <paramref name="frames"/> with every tie flipped, against the unflipped <paramref name="reference"/>.</summary>
    public static Parity FlippedRun(MattingNetwork network, IReadOnlyList<float[]> frames, int[] shape, double ratio,
        IReadOnlyList<FrameResult> reference, IReadOnlyList<string> names)
    {
        var moved = new Parity();
        using var flip = new ThresholdTies(network, flip: true);
        using var torch = new TorchMatting(network);
        for (int t = 0; t < frames.Count; t++) moved.Add(t, reference[t], torch.Step(frames[t], shape, ratio), names);
        return moved;
    }

    private static void Run(MattingNetwork network, IReadOnlyList<float[]> frames, int[] shape, double ratio)
    {
        using var torch = new TorchMatting(network);
        foreach (var frame in frames) torch.Step(frame, shape, ratio);
    }

    /// <summary>
    /// Asserts that TorchSharp (<paramref name="parity"/> against it) and ONNX Runtime agree within
    /// <paramref name="tolerance"/>, or, where they do not, that ties were seen in the reference run (counted
    /// by <paramref name="ties"/>) and the difference is at most twice what flipping them moves TorchSharp
    /// (<paramref name="flipped"/>) plus the tolerance.
    /// </summary>
    public static void AssertAgree(string label, ThresholdTies ties, Parity parity, Func<Parity> flipped,
        IReadOnlyList<string> names, double tolerance, ITestOutputHelper log)
    {
        Assert.True(!ties.HasBinaryConvs || ties.Activations > 0, "the binary convs ran without the tie hooks");
        log.WriteLine($"  {label}: {ties.Ties} of {ties.Activations} binary-conv activations within {RelativeRounding:G} of τ");
        if (names.All(name => parity.Max(name) <= tolerance)) return;
        Assert.True(ties.Ties > 0, $"{label}: {parity} exceeds {tolerance} with no activation within rounding of τ");
        var explained = flipped();
        log.WriteLine($"  flipping them moves TorchSharp by: {explained}");
        foreach (var name in names)
        {
            double bound = 2 * explained.Max(name) + tolerance;
            Assert.True(parity.Max(name) <= bound, $"{name}: {label} {parity.Max(name):E3} > {bound:E3}, more than the {ties.Ties} sign(s) near τ explain");
        }
    }
}
