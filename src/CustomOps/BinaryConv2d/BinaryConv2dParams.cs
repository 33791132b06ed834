using BiVM.CustomOps.BitPacking;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// Everything that fixes the shape of one binary convolution: the node's attributes (ONNX Conv meaning) and the
/// input size of one call. Output size: H_out = ⌊(H + padTop + padBottom − dH·(kH − 1) − 1) / sH⌋ + 1.
/// </summary>
public sealed record BinaryConv2dParams(
    int Batch, int InChannels, int InHeight, int InWidth, int OutChannels,
    int KernelHeight, int KernelWidth,
    int StrideHeight = 1, int StrideWidth = 1,
    int DilationHeight = 1, int DilationWidth = 1,
    int PadTop = 0, int PadLeft = 0, int PadBottom = 0, int PadRight = 0)
{
    /// <summary>Largest kernel area: valid-tap sets are kept in a 64-bit mask (<see cref="ZeroPaddingCorrection"/>).</summary>
    public const int MaxTaps = 64;

    /// <summary>Square kernel, same stride/dilation both ways, symmetric padding.</summary>
    public static BinaryConv2dParams Square(int batch, int cin, int h, int w, int cout, int k, int stride = 1, int dilation = 1, int pad = -1)
    {
        int p = pad >= 0 ? pad : dilation * (k - 1) / 2;
        return new BinaryConv2dParams(batch, cin, h, w, cout, k, k, stride, stride, dilation, dilation, p, p, p, p);
    }

    public int OutHeight => (InHeight + PadTop + PadBottom - DilationHeight * (KernelHeight - 1) - 1) / StrideHeight + 1;
    public int OutWidth => (InWidth + PadLeft + PadRight - DilationWidth * (KernelWidth - 1) - 1) / StrideWidth + 1;
    public int Words => PackedLayout.WordsFor(InChannels);
    public int Taps => KernelHeight * KernelWidth;

    /// <summary>Packed words in one receptive field (one output channel's weights in the <c>W</c> layout).</summary>
    public int PatchWords => Taps * Words;

    /// <summary>
    /// Taps per word as the popcount kernels see them. With Cin ≤ 32 one word would leave at least half its bits as
    /// padding, so several taps share a word: two with Cin ≤ 32 (tap 2j in bits 0–31, tap 2j + 1 in bits 32–63), four
    /// with Cin ≤ 16 (tap 4j + i in bits 16i to 16i + 15): a half or a quarter of the popcount work for the same result,
    /// since the popcount of a word is the sum over its taps. 1 otherwise.
    /// </summary>
    public int TapsPerWord => InChannels <= 16 ? 4 : InChannels <= 32 ? 2 : 1;

    /// <summary>Bits of a word per tap where taps share words (<see cref="TapsPerWord"/> &gt; 1): 32 or 16.</summary>
    public int TapBits => 64 / TapsPerWord;

    /// <summary>
    /// Where tap <paramref name="tap"/> sits in a patch as the popcount kernels see it (<see cref="KernelWords"/> words):
    /// its first word and the bit its channels start at. Taps sharing a word (<see cref="TapsPerWord"/> &gt; 1) take
    /// <see cref="TapBits"/> bits each, in tap order; otherwise a tap is <see cref="Words"/> whole words. The gather and
    /// the prepared weights both place the taps by it.
    /// </summary>
    public (int Word, int Shift) TapWord(int tap) => TapsPerWord is var share and > 1 ? (tap / share, TapBits * (tap % share)) : (tap * Words, 0);

    /// <summary>Words per patch row as the popcount kernels see it (<see cref="TapsPerWord"/>).</summary>
    public int KernelWords => TapsPerWord > 1 ? (Taps + TapsPerWord - 1) / TapsPerWord : PatchWords;

    /// <summary>Same layer with another input size (ONNX H and W may change per call).</summary>
    public BinaryConv2dParams WithInput(int batch, int height, int width) => this with { Batch = batch, InHeight = height, InWidth = width };

    /// <summary>Null when the attributes are usable, otherwise what is wrong (used for ONNX error messages).</summary>
    public string? ValidateAttributes()
    {
        if (InChannels <= 0) return $"input channels must be positive, got {InChannels}";
        if (OutChannels <= 0) return $"output channels must be positive, got {OutChannels}";
        if (KernelHeight <= 0 || KernelWidth <= 0) return $"kernel_shape must be positive, got [{KernelHeight}, {KernelWidth}]";
        if (Taps > MaxTaps) return $"kernel_shape [{KernelHeight}, {KernelWidth}] has more than {MaxTaps} taps";
        if (StrideHeight <= 0 || StrideWidth <= 0) return $"strides must be positive, got [{StrideHeight}, {StrideWidth}]";
        if (DilationHeight <= 0 || DilationWidth <= 0) return $"dilations must be positive, got [{DilationHeight}, {DilationWidth}]";
        if (PadTop < 0 || PadLeft < 0 || PadBottom < 0 || PadRight < 0) return $"pads must be non-negative, got [{PadTop}, {PadLeft}, {PadBottom}, {PadRight}]";
        return null;
    }

    /// <summary>Null when this call's input size gives a non-empty output, otherwise what is wrong.</summary>
    public string? ValidateInput()
    {
        if (ValidateAttributes() is { } bad) return bad;
        if (Batch <= 0 || InHeight <= 0 || InWidth <= 0) return $"input must have positive N, H, W, got [{Batch}, {InChannels}, {InHeight}, {InWidth}]";
        if (OutHeight <= 0 || OutWidth <= 0)
            return $"input {InHeight}×{InWidth} is smaller than the dilated kernel {DilationHeight * (KernelHeight - 1) + 1}×{DilationWidth * (KernelWidth - 1) + 1} plus padding";
        return null;
    }
}
