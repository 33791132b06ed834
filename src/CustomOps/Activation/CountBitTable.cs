using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BiVM.CustomOps.BitPacking;

namespace BiVM.CustomOps.Activation;

/// <summary>
/// The packed bits of a glue that writes nothing but bits, where its input is a folded one-word 1×1 conv's output and
/// nothing is added to it (off the folded sparse conv's active cells, whose addend is zero there): each channel's
/// value is then a function of one integer, the pixel's popcount n ∈ [0, Cin], and so is its bit against τ. A table of
/// 64 bytes per channel holds the bit for every n (at the channel's place in its byte of the pixel's word), formed
/// once per call by the glue's own scalar operations (<see cref="ShortcutRPReLU.OneFromCount"/>, the same values as its
/// vector loop), and a row's words are then one byte lookup per channel and 64 pixels (<c>vpermb</c>; on AVX2 a byte
/// shuffle per 16 entries and 32 pixels) in place of the float arithmetic, the float row and the packer's compares
/// (docs/kernels.md, twenty-sixth session).
/// </summary>
/// <remarks>
/// Table byte n of channel c is 1 &lt;&lt; (c mod 8) where the value's bit is 1 (<see cref="PackedLayout.SignBit"/> of
/// y − τ, taken as the packers take it: !(y ≥ <see cref="PackedLayout.Threshold"/>(τ))), else 0; bytes past Cin are 0
/// and never looked up (a count is at most Cin; the lookup reads the index's low six bits only, so no count can read
/// outside the table). Channels 0–7 are ORed into one byte per pixel and 8–15 into another, and the two bytes are
/// widened into the pixel's word (one word a pixel: at most <see cref="MaxChannels"/> channels).
/// </remarks>
internal static unsafe class CountBitTable
{
    /// <summary>Bytes per channel's table: one per popcount the lookup can index.</summary>
    public const int TableBytes = 64;

    /// <summary>The most input channels of the folded 1×1 conv: popcounts 0 … Cin must index the 64-byte table.</summary>
    public const int MaxInChannels = TableBytes - 1;

    /// <summary>The most output channels: two bytes of each pixel's word.</summary>
    public const int MaxChannels = 16;

    /// <summary>Pixels per lookup: a 512-bit vector of byte indices.</summary>
    private const int Block = 64;

    /// <summary>Pixels per lookup on AVX2: a 256-bit vector of byte indices.</summary>
    private const int Block256 = 32;

    /// <summary>Whether this CPU runs the 64-pixel lookups (512-bit vectors and AVX-512 VBMI's byte permute).</summary>
    private static bool Wide => Vector512.IsHardwareAccelerated && Avx512Vbmi.IsSupported;

    /// <summary>
    /// Whether this CPU runs the lookups: 64 pixels a step by <c>vpermb</c> (<see cref="Wide"/>), else 32 by AVX2's
    /// in-lane byte shuffle, one per 16 table entries (<see cref="Row256"/>).
    /// </summary>
    public static bool IsSupported => Wide || Vector256.IsHardwareAccelerated && Avx2.IsSupported;

    /// <summary>Whether a layer's shape takes the tables: Cin ≤ <see cref="MaxInChannels"/>, C ≤ <see cref="MaxChannels"/>.</summary>
    public static bool Accepts(int inChannels, int channels) => inChannels is >= 1 and <= MaxInChannels && channels is >= 1 and <= MaxChannels;

    /// <summary>
    /// Channel <paramref name="channel"/>'s table at <paramref name="table"/>: byte n for n ≤ <paramref name="inChannels"/>
    /// holds the bit of <paramref name="values"/>[n] against <paramref name="tau"/> at the channel's place in its byte.
    /// </summary>
    public static void Build(ReadOnlySpan<float> values, int inChannels, float tau, int channel, byte* table)
    {
        float threshold = PackedLayout.Threshold(tau);
        byte place = (byte)(1 << (channel & 7));
        new Span<byte>(table, TableBytes).Clear();
        for (int n = 0; n <= inChannels; n++)
            if (!(values[n] >= threshold)) table[n] = place;
    }

    /// <summary>
    /// The words of pixels [<paramref name="from"/>, <paramref name="to"/>) of one row into <paramref name="dst"/> (pixel x's
    /// word at dst[x]) from the counts of a conv with <paramref name="inChannels"/> inputs, and where <paramref name="secondTables"/> is not null those against the second τ into
    /// <paramref name="secondDst"/>: channel c's bit from its table (at tables + c·<see cref="TableBytes"/>) looked up at
    /// its popcount (counts + c·<paramref name="countsStride"/> + x, in [0, Cin]), each channel's counts read once for
    /// both. The counts are read in whole blocks of 64 (32 on AVX2) from <paramref name="from"/> on, so the row's counts must have room
    /// up to the next multiple of 64 past it (their values there are not used); only the range's words are written.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Row(int* counts, long countsStride, int channels, int inChannels, byte* tables, byte* secondTables, int from, int to, ulong* dst, ulong* secondDst)
    {
        if (!IsSupported) throw new PlatformNotSupportedException("the count tables need AVX-512 VBMI or AVX2");
        if (channels is < 1 or > MaxChannels) throw new ArgumentOutOfRangeException(nameof(channels), channels, $"1 to {MaxChannels} channels");
        if (!Wide)
        {
            Row256(counts, countsStride, channels, inChannels / 16 + 1, tables, secondTables, from, to, dst, secondDst);
            return;
        }
        ulong* tail = stackalloc ulong[Block];
        for (int x = from; x < to; x += Block)
        {
            int pixels = Math.Min(Block, to - x);
            if (secondTables is null)
            {
                var (low, high) = (Lookup(counts + x, countsStride, 0, Math.Min(8, channels), tables), Lookup(counts + x, countsStride, 8, channels, tables));
                Store(low, high, dst + x, pixels, tail);
            }
            else
            {
                var (low, secondLow) = Lookup2(counts + x, countsStride, 0, Math.Min(8, channels), tables, secondTables);
                var (high, secondHigh) = Lookup2(counts + x, countsStride, 8, channels, tables, secondTables);
                Store(low, high, dst + x, pixels, tail);
                Store(secondLow, secondHigh, secondDst + x, pixels, tail);
            }
        }
    }

    /// <summary>Channels [<paramref name="first"/>, <paramref name="end"/>)'s bits of 64 pixels ORed into one byte a pixel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Lookup(int* counts, long countsStride, int first, int end, byte* tables)
    {
        var bits = Vector512<byte>.Zero;
        for (int c = first; c < end; c++)
            bits |= Avx512Vbmi.PermuteVar64x8(Vector512.Load(tables + c * TableBytes), Index(counts + c * countsStride));
        return bits;
    }

    /// <summary><see cref="Lookup"/> against two sets of tables, each channel's counts narrowed once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<byte> Bits, Vector512<byte> Second) Lookup2(int* counts, long countsStride, int first, int end, byte* tables, byte* secondTables)
    {
        Vector512<byte> bits = Vector512<byte>.Zero, second = Vector512<byte>.Zero;
        for (int c = first; c < end; c++)
        {
            var index = Index(counts + c * countsStride);
            bits |= Avx512Vbmi.PermuteVar64x8(Vector512.Load(tables + c * TableBytes), index);
            second |= Avx512Vbmi.PermuteVar64x8(Vector512.Load(secondTables + c * TableBytes), index);
        }
        return (bits, second);
    }

    /// <summary>
    /// 64 counts (32-bit, each at most 63) as the byte indices of a lookup: four narrowings (<c>vpmovdb</c>) and two
    /// inserts (a two-source byte permute of the counts, <c>vpermt2b</c>, took 3.5 times as long on Zen 4).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Index(int* at)
    {
        var low = Avx2.InsertVector128(Avx512F.ConvertToVector128Byte(Vector512.Load(at)).ToVector256Unsafe(), Avx512F.ConvertToVector128Byte(Vector512.Load(at + 16)), 1);
        var high = Avx2.InsertVector128(Avx512F.ConvertToVector128Byte(Vector512.Load(at + 32)).ToVector256Unsafe(), Avx512F.ConvertToVector128Byte(Vector512.Load(at + 48)), 1);
        return Avx512F.InsertVector256(low.ToVector512Unsafe(), high, 1);
    }

    /// <summary>The first <paramref name="pixels"/> ≤ 64 words of a block at <paramref name="dst"/>, through <paramref name="tail"/> where fewer than 64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector512<byte> low, Vector512<byte> high, ulong* dst, int pixels, ulong* tail)
    {
        if (pixels == Block)
        {
            Words(low, high, dst);
            return;
        }
        Words(low, high, tail);
        new ReadOnlySpan<ulong>(tail, pixels).CopyTo(new Span<ulong>(dst, pixels));
    }

    /// <summary>
    /// 64 pixels' words from their two bytes (channels 0–7 in <paramref name="low"/>, 8–15 in <paramref name="high"/>,
    /// pixel p's at byte p): the bytes interleaved into 16-bit values, which within each 128-bit lane are pixels 16L … 16L + 7
    /// (unpack low) and 16L + 8 … 16L + 15 (unpack high), each eight widened into words.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Words(Vector512<byte> low, Vector512<byte> high, ulong* dst)
    {
        var first = Avx512BW.UnpackLow(low, high).AsUInt16();
        var second = Avx512BW.UnpackHigh(low, high).AsUInt16();
        Avx512F.ConvertToVector512UInt64(first.GetLower().GetLower()).Store(dst);
        Avx512F.ConvertToVector512UInt64(second.GetLower().GetLower()).Store(dst + 8);
        Avx512F.ConvertToVector512UInt64(first.GetLower().GetUpper()).Store(dst + 16);
        Avx512F.ConvertToVector512UInt64(second.GetLower().GetUpper()).Store(dst + 24);
        Avx512F.ConvertToVector512UInt64(first.GetUpper().GetLower()).Store(dst + 32);
        Avx512F.ConvertToVector512UInt64(second.GetUpper().GetLower()).Store(dst + 40);
        Avx512F.ConvertToVector512UInt64(first.GetUpper().GetUpper()).Store(dst + 48);
        Avx512F.ConvertToVector512UInt64(second.GetUpper().GetUpper()).Store(dst + 56);
    }

    /// <summary>
    /// <see cref="Row"/> on AVX2, 32 pixels a step: each channel's counts narrowed to bytes (two signed and one unsigned
    /// saturating pack, then the lanes' quarters put in pixel order), and its table looked up 16 entries at a time by the
    /// in-lane byte shuffle: entries 16q … 16q + 15 at the index n − 16q with its top bit set (so the shuffle gives 0)
    /// unless that lies in [0, 16) (n − 16q, then an unsigned saturating add of 0x70), for the <paramref name="quarters"/> =
    /// ⌊Cin / 16⌋ + 1 quarters the counts 0 … Cin reach.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row256(int* counts, long countsStride, int channels, int quarters, byte* tables, byte* secondTables, int from, int to, ulong* dst, ulong* secondDst)
    {
        ulong* tail = stackalloc ulong[Block256];
        var order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
        var bias = Vector256.Create((byte)0x70);
        for (int x = from; x < to; x += Block256)
        {
            Vector256<byte> low = default, high = default, secondLow = default, secondHigh = default;
            for (int c = 0; c < channels; c++)
            {
                int* at = counts + c * countsStride + x;
                var words = Avx2.PackUnsignedSaturate(
                    Avx2.PackSignedSaturate(Vector256.Load(at), Vector256.Load(at + 8)),
                    Avx2.PackSignedSaturate(Vector256.Load(at + 16), Vector256.Load(at + 24)));
                var index = Avx2.PermuteVar8x32(words.AsInt32(), order).AsByte();
                var bits = Vector256<byte>.Zero;
                var secondBits = Vector256<byte>.Zero;
                for (int q = 0; q < quarters; q++)
                {
                    var shifted = Avx2.AddSaturate(index - Vector256.Create((byte)(16 * q)), bias);
                    bits |= Avx2.Shuffle(Vector256.Create(Vector128.Load(tables + c * TableBytes + 16 * q)), shifted);
                    if (secondTables is not null)
                        secondBits |= Avx2.Shuffle(Vector256.Create(Vector128.Load(secondTables + c * TableBytes + 16 * q)), shifted);
                }
                if (c < 8)
                {
                    low |= bits;
                    secondLow |= secondBits;
                }
                else
                {
                    high |= bits;
                    secondHigh |= secondBits;
                }
            }
            int pixels = Math.Min(Block256, to - x);
            Store256(low, high, dst + x, pixels, tail);
            if (secondTables is not null) Store256(secondLow, secondHigh, secondDst + x, pixels, tail);
        }
    }

    /// <summary>
    /// The first <paramref name="pixels"/> ≤ 32 words of a 32-pixel block (channels 0–7 in <paramref name="low"/>, 8–15 in
    /// <paramref name="high"/>, pixel p's at byte p), through <paramref name="tail"/> where fewer than 32: the bytes
    /// interleaved into 16-bit values (unpack low: pixels 0–7 and 16–23 by lane, unpack high: 8–15 and 24–31), each four
    /// widened into words.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(Vector256<byte> low, Vector256<byte> high, ulong* dst, int pixels, ulong* tail)
    {
        ulong* d = pixels == Block256 ? dst : tail;
        var first = Avx2.UnpackLow(low, high).AsUInt16();
        var second = Avx2.UnpackHigh(low, high).AsUInt16();
        Widen(first.GetLower(), d);
        Widen(second.GetLower(), d + 8);
        Widen(first.GetUpper(), d + 16);
        Widen(second.GetUpper(), d + 24);
        if (pixels < Block256) new ReadOnlySpan<ulong>(tail, pixels).CopyTo(new Span<ulong>(dst, pixels));
    }

    /// <summary>Eight 16-bit values widened into the words at <paramref name="d"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Widen(Vector128<ushort> values, ulong* d)
    {
        Avx2.ConvertToVector256Int64(values).AsUInt64().Store(d);
        Avx2.ConvertToVector256Int64(Sse2.ShiftRightLogical128BitLane(values, 8)).AsUInt64().Store(d + 4);
    }

    /// <summary>The specification of <see cref="Row"/>: pixel x's word, bit c from channel c's table at its count.</summary>
    public static ulong Word(int* counts, long countsStride, int channels, byte* tables, int x)
    {
        ulong word = 0;
        for (int c = 0; c < channels; c++)
            if (tables[c * TableBytes + counts[c * countsStride + x]] != 0) word |= 1UL << c;
        return word;
    }
}
