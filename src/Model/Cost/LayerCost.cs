namespace BiVM.Model.Cost;

/// <summary>
/// One row of the cost table. <see cref="BinaryWeights"/> of the <see cref="Parameters"/> are stored at
/// 1 bit, the rest at 32. <see cref="Flops"/> is the paper's "FLOPs": MACs, binary ones counted /64.
/// </summary>
public sealed record LayerCost(string Name, LayerKind Kind, IReadOnlyList<long> OutputShape, long Parameters, long BinaryWeights, double Macs, double Flops)
{
    public long StoredBits => BinaryWeights + 32 * (Parameters - BinaryWeights);
}
