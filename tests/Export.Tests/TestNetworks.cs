using BiVM.Model.Binarization;
using BiVM.Model;
using BiVM.Model.Networks;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiVM.Export.Tests;

/// <summary>
/// Seeded networks whose eval-mode constants are far from their initial values, so that every fold the
/// exporter does (BN into conv weights or alpha/bias, γ into the shortcut Mul, τ into the sign) changes numbers:
/// BN running mean/var and affine terms random (γ_BN of both signs, so some folded alphas are negative), τ and
/// the RPReLU shifts/slopes random, EBB's γ scales O(1) instead of their 1e-3 init.
/// </summary>
internal static class TestNetworks
{
    // torch's global generator seeds the initialisation; xunit runs test classes in parallel, so creation is
    // serialised or two classes would interleave their draws and get different weights from run to run.
    private static readonly Lock Creating = new();

    /// <param name="randomGains">Random binary-conv gains (<see cref="Randomize"/>); false leaves them at 1, as in every network
    /// trained without progressive binarization.</param>
    /// <param name="decoderChannels">The decoder's widths (<see cref="ModelConfig.DecoderChannels"/>), or null for RVM's.</param>
    public static MattingNetwork Create(ModelFamily family, bool fullPrecision = false, long seed = 1234, BatchNormMode normalization = BatchNormMode.Batch,
        bool randomGains = true, IReadOnlyList<long>? decoderChannels = null)
    {
        lock (Creating)
        {
            manual_seed(seed);
            var config = ModelConfig.For(family, fullPrecision) with { Normalization = normalization };
            if (decoderChannels is not null) config = config with { DecoderChannels = decoderChannels };
            var network = ModelFactory.Create(family, config);
            Randomize(network, seed, randomGains);
            network.eval();
            return network;
        }
    }

    public static void Randomize(nn.Module network, long seed, bool randomGains = true)
    {
        var generator = new Generator((ulong)seed + 1);
        using var _ = no_grad();
        Tensor Uniform(long[] shape, double lo, double hi) => rand(shape, generator: generator) * (hi - lo) + lo;
        Tensor Signs(long[] shape) => rand(shape, generator: generator).ge(0.2).to_type(ScalarType.Float32) * 2 - 1;
        foreach (var (name, module) in network.named_modules())
        {
            if (module is BatchNorm2d bn)
            {
                var shape = bn.running_mean!.shape;
                bn.running_mean!.copy_(randn(shape, generator: generator) * 0.2);
                bn.running_var!.copy_(Uniform(shape, 0.5, 2.0));
                bn.weight!.copy_(Uniform(shape, 0.5, 1.5) * Signs(shape));
                bn.bias!.copy_(randn(shape, generator: generator) * 0.2);
            }
        }
        foreach (var (name, p) in network.named_parameters())
        {
            var leaf = name.Split('.')[^1];
            if (leaf == "tau") p.copy_(randn(p.shape, generator: generator) * 0.1);
            else if (leaf.StartsWith("gamma_", StringComparison.Ordinal)) p.copy_(Uniform(p.shape, 0.2, 0.9));
            else if (name.Contains("shift_in") || name.Contains("shift_out")) p.copy_(randn(p.shape, generator: generator) * 0.05);
            else if (name.EndsWith("prelu.weight", StringComparison.Ordinal)) p.copy_(Uniform(p.shape, 0.05, 0.5));
        }
        // Progressive binarization's fixed gains (1 in networks trained without it): every exported scale must carry them.
        // Powers of two (½, 1, 2): they move every scale without changing which products are exact in float32, so the
        // threshold-tie separation (ThresholdTies) works on these networks as on trained ones.
        foreach (var (name, b) in network.named_buffers())
            if (randomGains && name.Split('.')[^1] == "gain") b.copy_(pow(2, randint(-1, 2, b.shape, generator: generator).to_type(ScalarType.Float32)));
    }
}
