using BiVM.Contracts;
using BiVM.Graph;
using BiVM.Model;
using BiVM.Model.Binarization;
using BiVM.Model.Networks;
using BiVM.Tests.Shared;
using BiVM.Training;
using TorchSharp.Modules;
using Xunit.Abstractions;

namespace BiVM.Export.Tests;

/// <summary>
/// Weights that went through `bivm train` (a few Adam steps of the real losses on generated clips, BN running
/// statistics updated by training forwards), loaded from the run folder like `bivm export --weights` does:
/// the file carries the run's data seed and steps, and TorchSharp, ai.bivm and lowered agree over 10 frames.
/// </summary>
public sealed class TrainedWeightsTests(ITestOutputHelper log)
{
    [Fact]
    public void Briefly_trained_bivm_exports_with_its_provenance_and_matches_torch_over_10_frames()
    {
        using var folder = new TempFolder("bivm-trained-");
        var run = folder.Path;
        var config = new TrainingConfig
        {
            Family = ModelFamily.Bivm, Seed = 3, DataSeed = 4242, Threads = 1,
            Stages = [new StageConfig { Steps = 2, Width = 96, Height = 64, Frames = 2, BatchSize = 1, LearningRates = new(1e-3, 1e-3, 1e-3, 0) }],
        };
        string weights;
        using (var trainer = new Trainer(config, run)) weights = trainer.Run(resume: false);

        using var network = ModelCheckpoint.Load(weights);
        network.eval();
        // Training really moved the eval constants away from their initial values.
        Assert.Contains(network.modules().OfType<BinaryConv2d>(), c => c.Tau.abs().max().item<float>() > 0);
        Assert.Contains(network.modules().OfType<BatchNorm2d>(), bn => (bn.running_var! - 1).abs().max().item<float>() > 1e-3);

        var (seed, steps) = RunFolder.Provenance(weights);
        Assert.Equal((4242L, 2L), (seed, steps));
        var frames = Sequences.Frames(10, 65, 97);
        int[] shape = [1, 3, 65, 97];
        ThresholdTies.Separate(network, frames, shape, 0.5, log);
        var options = new ExportOptions { TrainingSeed = seed, TrainingSteps = steps, WeightsSource = weights };
        var custom = MattingExporter.Export(network, options);
        Assert.Contains(("training_seed", "4242"), custom.Metadata);
        Assert.Contains(("training_steps", "2"), custom.Metadata);

        using var a = new OrtMatting(custom.ToBytes());
        using var b = new OrtMatting(MattingExporter.Export(network, options with { Lowered = true }).ToBytes());
        var torchVsCustom = new Parity();
        var customVsLowered = new Parity();
        var references = new List<FrameResult>();
        var ties = new ThresholdTies(network);
        using (ties)
        using (var torch = new TorchMatting(network))
        {
            for (int t = 0; t < frames.Length; t++)
            {
                var reference = torch.Step(frames[t], shape, 0.5);
                references.Add(reference);
                var x = a.Step(frames[t], shape, 0.5f);
                torchVsCustom.Add(t, reference, x, MattingContract.Outputs);
                customVsLowered.Add(t, x, b.Step(frames[t], shape, 0.5f), MattingContract.Outputs);
            }
        }
        log.WriteLine($"trained bivm 97x65 r=0.5 x10: torch vs ai.bivm: {torchVsCustom}");
        log.WriteLine($"  ai.bivm vs lowered: {customVsLowered}");
        string[] images = [MattingContract.Foreground, MattingContract.Alpha];
        // Our two ORT graphs share every float op outside the binary convs, whose integer parts are exact: bit-identical.
        foreach (var name in images) Assert.Equal(0, customVsLowered.Max(name));
        // TorchSharp rounds differently (host- and ISA-dependent): 1e-4, or what the signs left on τ explain.
        ThresholdTies.AssertAgree("TorchSharp vs ai.bivm", ties, torchVsCustom,
            () => ThresholdTies.FlippedRun(network, frames, shape, 0.5, references, images), images, 1e-4, log);
    }
}
