using BiVM.Contracts;
using BiVM.Model;
using BiVM.Model.Binarization;
using BiVM.Model.Networks;
using Xunit.Abstractions;
using Xunit.Sdk;
using static TorchSharp.torch;

namespace BiVM.Export.Tests;

/// <summary>
/// The tie handling the parity tests rely on (<see cref="ThresholdTies"/>): separation leaves no sign within
/// rounding of τ where a gap allows, flipped ties are accepted, and a defect is still caught.
/// </summary>
public sealed class ThresholdTiesTests(ITestOutputHelper log)
{
    private static readonly string[] Images = [MattingContract.Foreground, MattingContract.Alpha];
    private static readonly int[] Shape = [1, 3, 65, 97];
    private const double Ratio = 0.5;

    [Fact]
    public void Separation_leaves_no_tie_and_changes_no_output()
    {
        using var network = BiVM();
        var frames = Sequences.Frames(3, Shape[2], Shape[3]);
        var (before, original) = TorchRun(network, frames);
        ThresholdTies.Separate(network, frames, Shape, Ratio, log);
        var (after, separated) = TorchRun(network, frames);
        log.WriteLine($"ties before {before.Ties} of {before.Activations}, after {after.Ties}");
        Assert.True(before.Ties > 0, "the randomized BiVM had no tie to separate: the test would prove nothing");
        Assert.Equal(0, after.Ties);
        // No sign moved, so TorchSharp's outputs are bit-identical.
        var parity = new Parity();
        for (int t = 0; t < frames.Length; t++) parity.Add(t, original[t], separated[t], MattingContract.Outputs);
        Assert.All(MattingContract.Outputs, name => Assert.Equal(0, parity.Max(name)));
    }

    [Fact]
    public void Outputs_that_differ_by_flipped_ties_are_accepted()
    {
        using var network = BiVM();
        var frames = Sequences.Frames(3, Shape[2], Shape[3]);
        var (ties, references) = TorchRun(network, frames);
        // Stand-in for a host that rounds differently: every tie taken the other way.
        var otherHost = ThresholdTies.FlippedRun(network, frames, Shape, Ratio, references, Images);
        log.WriteLine($"flipping {ties.Ties} ties: {otherHost}");
        Assert.Contains(Images, name => otherHost.Max(name) > 1e-4);   // a plain 1e-4 comparison would fail
        ThresholdTies.AssertAgree("TorchSharp vs a flipped run", ties, otherHost, () => otherHost, Images, 1e-4, log);
    }

    [Fact]
    public void A_wrong_threshold_in_the_file_is_caught()
    {
        using var network = BiVM();
        var frames = Sequences.Frames(3, Shape[2], Shape[3]);
        ThresholdTies.Separate(network, frames, Shape, Ratio, log);
        // The defect: the file's τ of one channel is 0.02 off the network's (an exporter folding a constant
        // slightly wrong). It moves a few signs of one channel, as a legitimate flip would, and is still caught.
        var tau = network.modules().OfType<BinaryConv2d>().Skip(3).First().Tau;
        byte[] file;
        using (no_grad())
        {
            tau[0] = tau[0] + 0.02f;
            file = MattingExporter.Export(network).ToBytes();
            tau[0] = tau[0] - 0.02f;
        }
        using var ort = new OrtMatting(file);
        var (ties, references) = TorchRun(network, frames);
        var parity = new Parity();
        for (int t = 0; t < frames.Length; t++) parity.Add(t, references[t], ort.Step(frames[t], Shape, (float)Ratio), Images);
        log.WriteLine($"torch vs a file with one τ off by 0.02: {parity}");
        Assert.Equal(0, ties.Ties);
        Assert.ThrowsAny<XunitException>(() => ThresholdTies.AssertAgree("TorchSharp vs ai.bivm", ties, parity,
            () => ThresholdTies.FlippedRun(network, frames, Shape, Ratio, references, Images), Images, 1e-4, log));
    }

    /// <summary>
    /// The randomized BiVM with its gains at 1: with random gains, one channel of this seed's network has activations
    /// packed around its τ on both sides (a cluster no threshold can separate without moving a sign), and these tests
    /// are about separating ties, not about gains (the parity tests cover those).
    /// </summary>
    private static MattingNetwork BiVM() => TestNetworks.Create(ModelFamily.Bivm, randomGains: false);

    private static (ThresholdTies Ties, List<FrameResult> References) TorchRun(MattingNetwork network, float[][] frames)
    {
        var references = new List<FrameResult>();
        var ties = new ThresholdTies(network);
        using (ties)
        using (var torch = new TorchMatting(network))
            foreach (var frame in frames) references.Add(torch.Step(frame, Shape, Ratio));
        return (ties, references);
    }
}
