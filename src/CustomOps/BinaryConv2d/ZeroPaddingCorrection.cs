using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Numerics;
using System.Runtime.Intrinsics;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// The output stage from raw popcounts, with exact dot products also for outputs whose receptive field leaves the image.
/// </summary>
/// <remarks>
/// <para>TorchSharp's conv2d pads with zeros, and a zero contributes 0, not ±1. The gatherer instead writes
/// all-zero words (= +1 in every channel) for outside taps, so those taps add popcount(0 XOR w) = popcount(w)
/// to the raw count. With V the set of taps inside the image and P(w_t) the popcount of the weights of tap t:</para>
/// <code>
///   raw      = Σ_{t∈V} popcount(a_t XOR w_t) + Σ_{t∉V} P(w_t)
///   dot      = Σ_{t∈V} (Cin − 2·popcount(a_t XOR w_t))
///            = Cin·|V| − 2·(raw − Σ_{t∉V} P(w_t))
/// </code>
/// <para>Inside the image V is every tap and dot = Cin·taps − 2·raw (vectorized). Only border outputs pay for the
/// correction; V depends on (y, x) only through which kernel rows and columns fall outside.</para>
/// </remarks>
internal sealed unsafe class ZeroPaddingCorrection
{
    private readonly int[] _tapPopcount; // [Cout, taps]: P(w_t)
    private readonly ConcurrentDictionary<(ulong Rows, ulong Columns), int[]> _deltas = new(); // see Deltas
    // The same memo as a table indexed by rows | columns << kH, for kernels of kH + kW ≤ 10 (a 3×3 kernel: 64 entries):
    // looked up for every border piece of every row, the dictionary's hashing was 0.3 % of a 512×288 frame.
    private readonly int[]?[]? _deltaTable;

    /// <param name="layer">Attributes (input size is taken per call).</param>
    /// <param name="weights">Packed weights [Cout(≥), kH, kW, words].</param>
    public ZeroPaddingCorrection(BinaryConv2dParams layer, ReadOnlySpan<ulong> weights)
    {
        int taps = layer.Taps, words = layer.Words;
        _tapPopcount = new int[layer.OutChannels * taps];
        for (int co = 0; co < layer.OutChannels; co++)
            for (int t = 0; t < taps; t++)
                for (int wi = 0; wi < words; wi++)
                    _tapPopcount[co * taps + t] += BitOperations.PopCount(weights[(co * taps + t) * words + wi]);
        if (layer.KernelHeight + layer.KernelWidth <= 10) _deltaTable = new int[]?[1 << (layer.KernelHeight + layer.KernelWidth)];
    }

    /// <summary>Bit ky is set when kernel row ky of output row y lands inside the input.</summary>
    public static ulong ValidRows(BinaryConv2dParams p, int y) =>
        ValidAxis(y * p.StrideHeight - p.PadTop, p.DilationHeight, p.KernelHeight, p.InHeight);

    /// <summary>Bit kx is set when kernel column kx of output column x lands inside the input.</summary>
    public static ulong ValidColumns(BinaryConv2dParams p, int x) =>
        ValidAxis(x * p.StrideWidth - p.PadLeft, p.DilationWidth, p.KernelWidth, p.InWidth);

    private static ulong ValidAxis(int start, int dilation, int k, int size)
    {
        ulong mask = 0;
        for (int i = 0; i < k; i++)
        {
            int pos = start + i * dilation;
            if (pos >= 0 && pos < size) mask |= 1UL << i;
        }
        return mask;
    }

    /// <summary>
    /// The output stage of the listed pixels of output row <paramref name="y"/>: for co &lt; Cout,
    /// output[co][xs[i]] = alpha[co]·dot + bias[co] (<see cref="OutputTransform"/>), with dot from the raw counts.
    /// </summary>
    /// <remarks>
    /// dot = Cin·taps − 2·raw inside the image. A border pixel adds δ = (inside − Cin·taps) + 2·outside, which turns it
    /// into inside − 2·(raw − outside); δ depends on the pixel only through which kernel rows and columns fall outside
    /// (the row's mask and the column's: at most 2·(kW − 1) + 1 column masks per row), so the listed pixels split into
    /// pieces of consecutive columns sharing one mask, each written with Cin·taps + δ in place of Cin·taps: a dense row is
    /// three pieces (left border, interior, right border), written as one vector pass over the whole row with the
    /// interior's value and the border columns then again one by one; a sparse row's pieces (one or a few per active
    /// cell) are a vector pass each over every channel.
    /// </remarks>
    /// <param name="output">Channel 0's output row; channel co's is at + co·<paramref name="channelStride"/>.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Transform(BinaryConv2dParams p, int y, int* xs, int count, int* counts, int countsStride, float* alpha, float* bias, float* output, long channelStride)
    {
        int kh = p.KernelHeight, kw = p.KernelWidth, taps = p.Taps, cin = p.InChannels, fullTaps = cin * taps;
        bool fetchAhead = OutputTransform.FetchesAhead(channelStride, p.OutWidth);
        ulong rows = ValidRows(p, y);
        int validRows = BitOperations.PopCount(rows);

        // Pieces: [pieceStart[j], pieceStart[j + 1]) of the list, consecutive columns with one mask (−1: every tap inside).
        Span<int> pieceStart = count < 1024 ? stackalloc int[count + 1] : new int[count + 1];
        Span<int> piecePattern = count <= 1024 ? stackalloc int[count] : new int[count];
        Span<ulong> patterns = stackalloc ulong[2 * BinaryConv2dParams.MaxTaps + 1];
        int patternCount = 0, pieces = 0;
        // Columns whose every kernel column is inside: x in [xIn0, xIn1).
        int xIn0 = (p.PadLeft + p.StrideWidth - 1) / p.StrideWidth;
        int lastStart = p.InWidth - 1 - (kw - 1) * p.DilationWidth + p.PadLeft; // x·sW must not exceed this
        int xIn1 = lastStart < 0 ? 0 : lastStart / p.StrideWidth + 1;
        // A dense row's columns are consecutive: then only the columns outside [xIn0, xIn1) are looked at one by one, and
        // the columns inside are one piece (a full-resolution 16-channel layer would otherwise spend as long on this
        // scan as on its outputs). A sparse row's list is scanned whole.
        int middleStart = count, middleEnd = count;
        if (count > 0 && xs[count - 1] - xs[0] == count - 1)
        {
            middleStart = Math.Clamp(xIn0 - xs[0], 0, count);
            middleEnd = Math.Clamp(xIn1 - xs[0], middleStart, count);
        }
        for (int i = 0; i < count; i++)
        {
            int x = xs[i], k = -1;
            if (validRows != kh || x < xIn0 || x >= xIn1)
            {
                ulong columns = ValidColumns(p, x);
                k = patterns[..patternCount].IndexOf(columns);
                if (k < 0) { k = patternCount; patterns[patternCount++] = columns; }
            }
            if (i == 0 || x != xs[i - 1] + 1 || k != piecePattern[pieces - 1])
            {
                pieceStart[pieces] = i;
                piecePattern[pieces++] = k;
            }
            // Every column of the middle shares the first one's mask, so the piece that holds i holds them all.
            if (i == middleStart && middleEnd > middleStart) i = middleEnd - 1;
            // Likewise within a sparse row's list: an inside column's run of consecutive columns inside [xIn0, xIn1)
            // shares its mask and piece. Its end by bisection (whether xs[j] − x = j − i and xs[j] < xIn1 holds for
            // j from i on, then fails for good: the columns ascend without repeats), not column by column: a run of
            // one active cell (16 columns at full resolution) was 16 turns of this loop (frames 0.992, Zen 5).
            else if (x >= xIn0 && x < xIn1)
            {
                int last = i, beyond = count;
                while (beyond - last > 1)
                {
                    int mid = (last + beyond) >> 1;
                    if (xs[mid] - x == mid - i && xs[mid] < xIn1) last = mid;
                    else beyond = mid;
                }
                i = last;
            }
        }
        pieceStart[pieces] = count;
        // A dense list (one run of consecutive columns, a dense row's segment) is written by one vector pass per
        // channel with the longest piece's Cin·taps + δ. The other pieces (the few border columns) take their own in
        // the same pass where they lie in the list's first or last vector (one piece a side); otherwise they are written
        // again one by one after it: two or four scalar outputs per channel and row in place of a vector call per
        // piece, whose setup and tails cost more than the outputs themselves on narrow layers.
        // Shorter or scattered lists (a sparse row's active cells) are one pass per piece over every channel
        // (ApplyChannels: one call per piece, not per piece and channel; 0.990 of a 512×288 frame on Zen 4).
        bool dense = count >= Vector128<int>.Count && xs[count - 1] - xs[0] == count - 1;
        int main = -1;
        if (dense)
        {
            main = 0;
            for (int j = 1; j < pieces; j++)
                if (pieceStart[j + 1] - pieceStart[j] > pieceStart[main + 1] - pieceStart[main]) main = j;
            int[]? mainDelta = piecePattern[main] < 0 ? null : Deltas(p, rows, validRows, patterns[piecePattern[main]]);
            // Where the other pieces (the border columns) are one at each end, within the list's first or last vector,
            // those vectors take their lanes' own Cin·taps + δ in the same pass, and nothing is written twice.
            int lanes = OutputTransform.EdgeLanes(count);
            if (pieces > 1 && lanes > 0 && EdgePieces(pieceStart, pieces, main, count, lanes, out int left, out int right))
            {
                int[]? leftDelta = left < 0 || piecePattern[left] < 0 ? null : Deltas(p, rows, validRows, patterns[piecePattern[left]]);
                int[]? rightDelta = right < 0 || piecePattern[right] < 0 ? null : Deltas(p, rows, validRows, patterns[piecePattern[right]]);
                int shift = count - lanes; // the last vector's first column in the list
                var edges = new OutputTransform.Edges(left < 0 ? 0 : pieceStart[left + 1], right < 0 ? lanes : pieceStart[right] - shift);
                fixed (int* d = mainDelta) fixed (int* l = leftDelta) fixed (int* r = rightDelta)
                    OutputTransform.ApplyChannelsWithEdges(counts, countsStride, count, fullTaps, d, edges, l, r, alpha, bias, p.OutChannels, output + xs[0], channelStride, fetchAhead);
                return;
            }
            fixed (int* d = mainDelta)
                OutputTransform.ApplyChannels(counts, countsStride, count, fullTaps, d, alpha, bias, p.OutChannels, output + xs[0], channelStride, fetchAhead);
        }
        // Each pattern's δ for every channel comes from the memo (the per-channel sums over the outside taps were the
        // largest part of this stage when every row recomputed them); neighbouring pieces mostly share a pattern.
        int deltaPattern = -1;
        int[]? delta = null;
        for (int j = 0; j < pieces; j++)
        {
            if (j == main) continue;
            int k = piecePattern[j], i0 = pieceStart[j], i1 = pieceStart[j + 1];
            if (k >= 0 && k != deltaPattern)
            {
                delta = Deltas(p, rows, validRows, patterns[k]);
                deltaPattern = k;
            }
            // A sparse row's pieces of fewer than 4 columns (decode3's active cells of 2 columns, or a run's column at
            // the image's edge, cut off by its padding pattern) likewise: a call per channel for one to three outputs
            // had cost more than them (frames 0.998 and 1/1.003, Zen 5).
            if (dense || i1 - i0 < 4)
                for (int i = i0; i < i1; i++)
                {
                    int* raw = counts + i;
                    float* at = output + xs[i];
                    for (int co = 0; co < p.OutChannels; co++)
                        at[co * channelStride] = OutputTransform.One((k < 0 ? fullTaps : fullTaps + delta![co]) - 2 * raw[(long)co * countsStride], alpha[co], bias[co]);
                }
            else
                fixed (int* d = k < 0 ? null : delta)
                    OutputTransform.ApplyChannels(counts + i0, countsStride, i1 - i0, fullTaps, d, alpha, bias, p.OutChannels, output + xs[i0], channelStride, fetchAhead);
        }
    }

    /// <summary>
    /// Whether the pieces but <paramref name="main"/> are at most one at the list's start, within its first
    /// <paramref name="lanes"/> columns (<paramref name="left"/>, else −1), and one at its end, within its last ones
    /// (<paramref name="right"/>, else −1): a 3×3 kernel's border columns on either side share one mask.
    /// </summary>
    private static bool EdgePieces(Span<int> pieceStart, int pieces, int main, int count, int lanes, out int left, out int right)
    {
        left = right = -1;
        for (int j = 0; j < pieces; j++)
        {
            if (j == main) continue;
            if (pieceStart[j] == 0 && pieceStart[j + 1] <= lanes && left < 0) left = j;
            else if (pieceStart[j + 1] == count && pieceStart[j] >= count - lanes && right < 0) right = j;
            else return false;
        }
        return true;
    }

    /// <summary>
    /// δ of every output channel for the taps whose kernel rows are <paramref name="rows"/> and columns
    /// <paramref name="columns"/>: (Cin·|V| − Cin·taps) + 2·Σ_{t∉V} P(w_t). Computed once per pair of masks and kept (a
    /// layer meets a handful: top, bottom and inner rows times left, right and inner columns).
    /// </summary>
    private int[] Deltas(BinaryConv2dParams p, ulong rows, int validRows, ulong columns)
    {
        if (_deltaTable is { } table)
        {
            // rows < 2^kH and columns < 2^kW (ValidAxis sets bit i for kernel index i only), so the index is inside the
            // table; taken without `ref table[i]`'s covariance check (0.1 % of a frame: the table is ours, exactly int[]?[]).
            // Tasks on other threads may fill the same entry at once: each computes the same values and publishes a
            // complete array.
            ref int[]? entry = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(table), (int)(rows | columns << p.KernelHeight));
            if (Volatile.Read(ref entry) is { } hit) return hit;
            var made = ComputeDeltas(p, rows, validRows, columns);
            Volatile.Write(ref entry, made);
            return made;
        }
        var key = (rows, columns);
        return _deltas.TryGetValue(key, out var known) ? known : _deltas.GetOrAdd(key, ComputeDeltas(p, rows, validRows, columns));
    }

    private int[] ComputeDeltas(BinaryConv2dParams p, ulong rows, int validRows, ulong columns)
    {
        int kh = p.KernelHeight, kw = p.KernelWidth, taps = p.Taps;
        int insideMinusFull = p.InChannels * validRows * BitOperations.PopCount(columns) - p.InChannels * taps;
        var deltas = new int[p.OutChannels];
        fixed (int* tapPc = _tapPopcount)
            for (int co = 0; co < deltas.Length; co++)
                deltas[co] = insideMinusFull + 2 * OutsidePopcount(rows, columns, tapPc + co * taps, kh, kw);
        return deltas;
    }

    /// <summary>Σ P(w_t) over the taps outside the image (kernel row or column invalid).</summary>
    private static int OutsidePopcount(ulong rows, ulong columns, int* tapPc, int kh, int kw)
    {
        int outside = 0;
        for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++)
                if (((rows >> ky) & (columns >> kx) & 1) == 0) outside += tapPc[ky * kw + kx];
        return outside;
    }
}
