using BiVM.Model.Binarization;
using BiVM.Model.Decoder;
using BiVM.Model.Networks;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Cost;

/// <summary>
/// Counts parameters, stored size and FLOPs by one forward pass with hooks on every conv: exact for any
/// input size (odd sizes, strides, crops) without restating the architecture. Only convolutions count
/// MACs (RVM's 4.50 G at 512×288 is its conv MACs, rvm-architecture.md §5); element-wise work (BN,
/// activations, GRU gates, resizes, the DGF's affine) is left out, as in the paper's convention.
/// SHB's masked 3×3 counts at <c>maskDensity</c> of its dense cost (the active fraction is data-dependent).
/// </summary>
public static class CostCounter
{
    /// <summary>Binary MACs per FLOP (OPs = FLOPs + BOPs/64).</summary>
    public const double BinaryOpsPerFlop = 64;

    public static CostReport Measure(MattingNetwork network, long height, long width, double downsampleRatio = 1, double maskDensity = 1)
    {
        var wasTraining = network.training;
        network.eval();
        try
        {
            var rows = Count(network, maskDensity, () =>
            {
                using var scope = NewDisposeScope();
                network.call(zeros(1, 3, height, width) + 0.5f, null, downsampleRatio);
            });
            return new CostReport(network.Config.Family.ToCliName() + (network.Config.FullPrecision ? " (32-bit)" : ""),
                height, width, downsampleRatio, maskDensity, rows);
        }
        finally
        {
            network.train(wasTraining);
        }
    }

    /// <summary>Cost of any single-input module (one layer or a block) on an input of the given shape.</summary>
    public static CostReport Measure(Module<Tensor, Tensor> module, long[] inputShape, double maskDensity = 1)
    {
        var rows = Count(module, maskDensity, () =>
        {
            using var scope = NewDisposeScope();
            module.call(randn(inputShape));
        });
        return new CostReport(module.GetName(), inputShape[^2], inputShape[^1], 1, maskDensity, rows);
    }

    private static IReadOnlyList<LayerCost> Count(Module root, double maskDensity, Action forward)
    {
        if (maskDensity is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(maskDensity), maskDensity, "mask density must be in [0, 1]");
        var sparse = root.modules().OfType<Shb>().Select(s => (Module)s.SparseConv.Conv).ToHashSet(ReferenceEqualityComparer.Instance);
        var modules = Walk(root.GetName(), root, isRoot: true).ToList();
        var macs = new Dictionary<Module, (double Macs, long[] Shape)>(ReferenceEqualityComparer.Instance);
        var hooks = new List<Action>();
        foreach (var (_, module) in modules)
        {
            if (ConvGeometry(module) is not { } perOutput) continue;
            var conv = (Module<Tensor, Tensor>)module;
            var handle = conv.register_forward_hook((m, input, output) =>
            {
                var previous = macs.TryGetValue(m, out var p) ? p.Macs : 0;
                // Cost per frame of the batch: the counting pass uses batch 1.
                macs[m] = (previous + (double)output.numel() * perOutput, output.shape);
                return output;
            });
            hooks.Add(handle.remove);
        }
        using (no_grad())
        {
            try { forward(); }
            finally { hooks.ForEach(remove => remove()); }
        }

        var rows = new List<LayerCost>();
        foreach (var (name, module) in modules)
        {
            var parameters = module.named_parameters(recurse: false).ToList();
            var count = parameters.Sum(p => p.parameter.numel());
            var isConv = ConvGeometry(module) is not null;
            if (count == 0 && !isConv) continue;
            var binary = module is BinaryConv2d;
            var binaryWeights = module is BinaryConv2d b ? b.LatentWeight.numel() : 0;
            var (mac, shape) = macs.TryGetValue(module, out var m) ? m : (0, Array.Empty<long>());
            var isSparse = sparse.Contains(module);
            var kind = !isConv ? LayerKind.Parameters
                : isSparse ? (binary ? LayerKind.SparseBinaryConv : LayerKind.SparseConv)
                : binary ? LayerKind.BinaryConv : LayerKind.Conv;
            var effective = mac * (isSparse ? maskDensity : 1);
            var flops = binary ? effective / BinaryOpsPerFlop : effective;
            rows.Add(new LayerCost(name, kind, shape, count, binaryWeights, effective, flops));
        }
        return rows;
    }

    /// <summary>
    /// Depth-first, in registration order, so that rows read like the architecture. The root keeps its
    /// own name only when it is itself a layer (Measure(conv, …)); below it, names are state-dict keys.
    /// </summary>
    private static IEnumerable<(string name, Module module)> Walk(string name, Module module, bool isRoot = false)
    {
        yield return (name, module);
        foreach (var (childName, child) in module.named_children())
            foreach (var row in Walk(isRoot ? childName : $"{name}.{childName}", child))
                yield return row;
    }

    /// <summary>MACs per output element, (C_in / groups)·k_h·k_w, or null for a module that is not a conv.</summary>
    private static double? ConvGeometry(Module module) => module switch
    {
        BinaryConv2d b => b.InChannels * b.KernelSize * b.KernelSize,
        Conv2d c => (double)c.in_channels / c.groups * c.kernel_size.Aggregate(1L, (a, k) => a * k),
        _ => null,
    };
}
