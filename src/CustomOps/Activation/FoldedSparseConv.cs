using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.SparseBinaryConv2d;

namespace BiVM.CustomOps.Activation;

/// <summary>
/// SHB's masked 3×3 binary conv folded into the <c>ShortcutRPReLU</c> that adds it (inputs SparseX … SparseMask,
/// docs/model-contract.md): the glue packs the conv's input where active outputs read it, as the conv node does, and
/// then asks for each output row, every channel's, into rows of its own (<see cref="SparseBinaryConvolution.RowInto"/>:
/// zeros off the mask, the dense result on it) while it adds them. The conv node wrote its whole output, zeros
/// included, and the glue read it back: the cost no sparse conv could go below (docs/kernels.md, "SHB as time").
/// Same bits as the conv node; only 3×3 layers with stride 1, dilation 1 and pads 1 (output size = input size) are folded.
/// </summary>
internal sealed unsafe class FoldedSparseConv : IDisposable
{
    /// <summary>The folded layer's kernel size (SHB's sparse conv): the glue's rows are the input's rows.</summary>
    public const int KernelSize = 3;

    private readonly BinaryConvolution _conv;
    private readonly SparseBinaryConvolution _sparse;

    /// <param name="packedWeights">[Cout, 3, 3, words] as <see cref="BitPacking.WeightPacker"/> writes them.</param>
    /// <param name="tau">The conv's τ [Cin].</param>
    /// <param name="bias">Empty for no bias.</param>
    /// <param name="maskScale">The conv's mask_scale (<see cref="MaskGeometry.AllowedScales"/>).</param>
    /// <param name="forceKernel">A popcount kernel by name (<see cref="KernelSelector"/>), or null for the best this CPU runs.</param>
    public FoldedSparseConv(ReadOnlySpan<ulong> packedWeights, ReadOnlySpan<float> alpha, ReadOnlySpan<float> tau, ReadOnlySpan<float> bias, int maskScale, string? forceKernel = null)
    {
        _conv = new BinaryConvolution(BinaryConv2dParams.Square(1, tau.Length, 1, 1, alpha.Length, KernelSize), packedWeights, alpha, tau, bias, forceKernel);
        _sparse = new SparseBinaryConvolution(_conv, maskScale);
    }

    public int InChannels => _conv.Layer.InChannels;

    public int OutChannels => _conv.Layer.OutChannels;

    public int MaskScale => _sparse.MaskScale;

    /// <summary>The popcount kernel in use (<see cref="KernelSelector"/>).</summary>
    public string KernelName => _conv.KernelName;

    /// <summary>The layer for an input of this size (output size the same).</summary>
    public BinaryConv2dParams Layer(int batch, int height, int width) => _conv.CheckedCall(batch, height, width);

    /// <summary>x [N, Cin, H, W] packed where active outputs read it, into the calling thread's packed buffer (dispose it after the last row).</summary>
    public PackedActivations Pack(BinaryConv2dParams p, float* x, byte* mask, ParallelRunner runner) => _sparse.PackNeeded(p, x, mask, runner);

    /// <summary>
    /// Output row <paramref name="oy"/> of image <paramref name="n"/>, channel co's at <paramref name="rows"/> + co·<paramref name="channelStride"/>.
    /// <paramref name="zerosKept"/>: the row of the same image just before it, of the same mask row (oy / <see cref="MaskScale"/>), was
    /// written at <paramref name="rows"/> and nothing else since, so its zeros between the active runs are there already
    /// (<see cref="SparseBinaryConvolution.RowInto"/>).
    /// </summary>
    public void Row(BinaryConv2dParams p, ulong* packed, byte* mask, int n, int oy, float* rows, long channelStride, bool zerosKept = false)
    {
        var (mh, mw) = MaskGeometry.MaskSize(p.OutHeight, p.OutWidth, MaskScale);
        _sparse.RowInto(p, packed, mask, mh, mw, n, oy, rows, channelStride, zerosKept);
    }

    public void Dispose() => _conv.Dispose();
}
