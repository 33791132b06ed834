using BiVM.Model.Binarization;
using BiVM.Model.Decoder;

namespace BiVM.Model.Networks;

/// <summary>Builds a network of a family from its configuration.</summary>
public static class ModelFactory
{
    public static MattingNetwork Create(ModelFamily family, ModelConfig? config = null)
    {
        config = (config ?? ModelConfig.For(family)) with { Family = family };
        if (config.FullPrecision && family != ModelFamily.Bivm)
            throw new ArgumentException($"a full-precision variant exists for bivm only ({family.ToCliName()} is already fixed)", nameof(config));
        if (DecoderPlan.BlockChannelsProblem(config.DecoderChannels) is { } problem) throw new ArgumentException(problem, nameof(config));
        MattingNetwork network = family switch
        {
            ModelFamily.Rvm => new Rvm(config),
            ModelFamily.RvmReact => new RvmReact(config),
            ModelFamily.Bivm => new Bivm(config),
            _ => throw new ArgumentOutOfRangeException(nameof(family), family, null),
        };
        if (config.Normalization == BatchNormMode.Frame)
        {
            foreach (var unit in network.modules().OfType<ConvBnAct>()) unit.NormMode = BatchNormMode.Frame;
            foreach (var shb in network.modules().OfType<Shb>()) shb.SparseConv.NormMode = BatchNormMode.Running;
        }
        else if (config.Normalization == BatchNormMode.Fixed)
        {
            foreach (var unit in network.modules().OfType<ConvBnAct>()) unit.NormMode = BatchNormMode.Fixed;
        }
        return network;
    }

    public static MattingNetwork Create(ModelConfig config) => Create(config.Family, config);
}
