using System.Runtime.CompilerServices;
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
    /// Bits a tap takes in a patch as the popcount kernels see it, the taps laid end to end from bit 0 of word 0. With
    /// one word per pixel a tap's Cin bits would leave the rest of its word as padding, so taps share words: 16 bits
    /// each with Cin ≤ 16 (four taps a word), 32 with Cin ≤ 32 (two), and with 32 &lt; Cin &lt; 64 exactly Cin
    /// (bit-tight: a tap may then start inside a word and end in the next one; 35 channels' 3×3 patch is 5 words
    /// instead of 9) wherever that saves a word. The popcount of a patch is the sum over its taps however they sit, so
    /// the raw count is unchanged and the work drops with the words. Otherwise a tap is <see cref="Words"/> whole
    /// words (64·<see cref="Words"/>).
    /// </summary>
    public int TapBits
    {
        // Inlined, as TapWord: the gathers ask for every tap's place on every call, and as calls the two took 0.5 % of
        // a 512×288 frame (perf, Zen 4, twenty-fourth session).
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => InChannels <= 16 ? 16 : InChannels <= 32 ? 32
            : Words == 1 && ((long)Taps * InChannels + 63) / 64 < Taps ? InChannels
            : 64 * Words;
    }

    /// <summary>
    /// Where tap <paramref name="tap"/> sits in a patch as the popcount kernels see it (<see cref="KernelWords"/> words):
    /// its first word, the bit its channels start at (<see cref="TapBits"/> apart), and whether it starts inside that
    /// word and ends in the next (bit-tight taps only), whose bit 0 on then holds its channels from 64 − Shift on. The
    /// gather and the prepared weights both place the taps by it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public (int Word, int Shift, bool Spills) TapWord(int tap)
    {
        long start = (long)tap * TapBits;
        int shift = (int)(start % 64);
        return ((int)(start / 64), shift, shift > 0 && shift + InChannels > 64);
    }

    /// <summary>Words per patch row as the popcount kernels see it (<see cref="TapBits"/>).</summary>
    public int KernelWords => (int)(((long)Taps * TapBits + 63) / 64);

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
