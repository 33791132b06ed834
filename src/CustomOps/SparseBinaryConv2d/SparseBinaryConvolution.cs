using System.Buffers;
using BiVM.CustomOps.BinaryConv2d;

namespace BiVM.CustomOps.SparseBinaryConv2d;

/// <summary>
/// The SHB masked conv: outputs where the upsampled mask is 0 are 0 and cost nothing beyond writing the zero;
/// elsewhere the result equals <see cref="BinaryConvolution"/>'s bit for bit (the same stages run on the active
/// pixels).
/// </summary>
/// <remarks>
/// Work follows the active fraction twice:
/// (1) only the input pixels inside the receptive fields of active outputs are bit-packed (runs of needed pixels,
/// widened to whole 8-pixel vector chunks so the packer never falls back to its scalar path), and
/// (2) each output row's active pixels, wherever they are in the row, go through gather / popcount / correction /
/// transform together as one column list, so per-row and per-channel fixed costs are paid once per row, not once
/// per mask cell.
/// </remarks>
public sealed unsafe class SparseBinaryConvolution
{
    private const int Chunk = 8; // pixels per vector step of the packer
    private readonly BinaryConvolution _dense;

    public SparseBinaryConvolution(BinaryConvolution dense, int maskScale)
    {
        if (!MaskGeometry.IsAllowedScale(maskScale))
            throw new ArgumentException($"mask_scale must be one of {string.Join(", ", MaskGeometry.AllowedScales)}, got {maskScale}", nameof(maskScale));
        _dense = dense;
        MaskScale = maskScale;
    }

    public int MaskScale { get; }

    public string KernelName => _dense.KernelName;

    /// <summary>x [N, Cin, H, W], mask [N, 1, ⌈H_out/k⌉, ⌈W_out/k⌉] (0 = inactive) → y [N, Cout, H_out, W_out].</summary>
    /// <param name="packedInput">Null, or x already packed with this layer's tau (see <see cref="BinaryConvolution.Run(float*, int, int, int, float*, ParallelRunner, ulong*)"/>).</param>
    public void Run(float* x, int batch, int height, int width, byte* mask, float* y, ParallelRunner parallel, ulong* packedInput = null)
    {
        var p = _dense.CheckedCall(batch, height, width);
        int k = MaskScale, hOut = p.OutHeight, wOut = p.OutWidth;
        var (mh, mw) = MaskGeometry.MaskSize(hOut, wOut, k);
        if (packedInput is not null)
        {
            ComputeRows(p, mask, mh, mw, y, packedInput, parallel);
            return;
        }
        using var packed = PackNeeded(p, x, mask, parallel);
        ComputeRows(p, mask, mh, mw, y, packed.Pointer, parallel);
    }

    /// <summary>
    /// x's bits where active outputs read them (the runs of needed pixels of every input row, widened to whole
    /// 8-pixel chunks), into the calling thread's packed buffer [N, H, W, words]; the rest of it is not written.
    /// </summary>
    internal PackedActivations PackNeeded(BinaryConv2dParams p, float* x, byte* mask, ParallelRunner parallel)
    {
        var (mh, mw) = MaskGeometry.MaskSize(p.OutHeight, p.OutWidth, MaskScale);
        var needed = MarkNeededPixels(p, mask, mh, mw);
        var packed = new PackedActivations(p);
        try
        {
            Pack(p, x, needed, packed.Pointer, parallel);
            return packed;
        }
        catch
        {
            packed.Dispose();
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(needed);
        }
    }

    private void Pack(BinaryConv2dParams p, float* x, byte[] needed, ulong* packed, ParallelRunner parallel)
    {
        int batch = p.Batch, height = p.InHeight, width = p.InWidth;
        parallel(batch * height, row =>
        {
            int n = row / height, iy = row % height;
            for (int a = 0; a < width; a++)
            {
                if (needed[row * width + a] == 0) continue;
                int b = a + 1;
                while (b < width && needed[row * width + b] != 0) b++;
                int start = a, end = b;
                if (width >= Chunk)
                {
                    int length = (end - start + Chunk - 1) / Chunk * Chunk;
                    start = Math.Max(0, Math.Min(start, width - length));
                    end = Math.Min(width, start + length);
                }
                _dense.PackRow(p, x, packed, n, iy, start, end);
                a = b;
            }
        });
    }

    /// <summary>Every output row from packed input: zeros where the mask is off, the dense result on the active runs.</summary>
    private void ComputeRows(BinaryConv2dParams p, byte* mask, int mh, int mw, float* y, ulong* packed, ParallelRunner parallel)
    {
        int hOut = p.OutHeight, wOut = p.OutWidth;
        parallel(p.Batch * hOut, row =>
        {
            int n = row / hOut, oy = row % hOut;
            RowInto(p, packed, mask, mh, mw, n, oy, y + ((long)n * p.OutChannels * hOut + oy) * wOut, (long)hOut * wOut);
        });
    }

    /// <summary>
    /// Output row <paramref name="oy"/> of image <paramref name="n"/>, channel co's at <paramref name="row"/> +
    /// co·<paramref name="channelStride"/>: zeros between the mask's active runs, the dense result on them. With
    /// <paramref name="zerosKept"/> the zeros are taken as there already: the caller wrote a row of the same mask row (oy / k
    /// equal, so the same runs) of the same image at <paramref name="row"/> just before, and nothing else wrote there since.
    /// </summary>
    internal void RowInto(BinaryConv2dParams p, ulong* packed, byte* mask, int mh, int mw, int n, int oy, float* row, long channelStride,
        bool zerosKept = false)
    {
        int k = MaskScale, wOut = p.OutWidth;
        var cache = t_columns ??= new ColumnsCache();
        if (zerosKept && cache.Matches(mask, n, oy / k, k, wOut))
        {
            // The row before, of the same mask row, on this thread: the same active columns.
            if (cache.Count > 0)
                fixed (int* cached = cache.Columns) _dense.ComputeColumnsInto(p, packed, n, oy, cached, cache.Count, row, channelStride);
            return;
        }
        Span<int> runs = mw <= 512 ? stackalloc int[2 * mw] : new int[2 * mw];
        int runCount = MaskGeometry.ActiveRuns(mask, mh, mw, k, n, oy, wOut, runs);
        // Zeros where the mask is off. Where the runs cover at most half the row, each channel's whole row is cleared
        // and the runs written over it by the transform below: one clear a channel instead of one a gap (the kernel
        // benchmark's 10 % of random cells: the sparse conv node 0.90 of its time at cells of 4, 0.95 at cells of 16,
        // Zen 5). Otherwise only the gaps, so that the runs' bytes are not written twice.
        if (!zerosKept)
        {
            int active = 0;
            for (int r = 0; r < runCount; r++) active += runs[2 * r + 1] - runs[2 * r];
            bool wholeRows = 2 * active <= wOut;
            for (int co = 0; co < p.OutChannels; co++)
            {
                float* outRow = row + co * channelStride;
                if (wholeRows)
                {
                    new Span<float>(outRow, wOut).Clear();
                    continue;
                }
                int from = 0;
                for (int r = 0; r <= runCount; r++)
                {
                    int to = r < runCount ? runs[2 * r] : wOut;
                    if (to > from) new Span<float>(outRow + from, to - from).Clear();
                    if (r < runCount) from = runs[2 * r + 1];
                }
            }
        }
        int[] columns = cache.Take(mask, n, oy / k, k, wOut);
        int count = 0;
        for (int r = 0; r < runCount; r++)
            for (int c = runs[2 * r]; c < runs[2 * r + 1]; c++) columns[count++] = c;
        cache.Count = count;
        if (count == 0) return;
        fixed (int* xs = columns) _dense.ComputeColumnsInto(p, packed, n, oy, xs, count, row, channelStride);
    }

    [ThreadStatic] private static ColumnsCache? t_columns;

    /// <summary>
    /// The active columns of the mask row that this thread's last <see cref="RowInto"/> listed. The next row of the same
    /// mask row (the caller's zerosKept: the row before was of the same mask row, on this thread, just before) takes
    /// them again instead of scanning the mask and listing its columns anew: frames 0.995 and 1/1.005 (Zen 5; decode0's
    /// rows are 16 to a mask row, decode1's 8). A row without zerosKept always lists them, so a mask that changed in
    /// place (the next frame's, in the same buffer) is never read from here.
    /// </summary>
    private sealed class ColumnsCache
    {
        public int[] Columns = [];
        public int Count;
        private nint _mask;
        private int _n, _maskRow, _scale, _width;

        public bool Matches(byte* mask, int n, int maskRow, int scale, int width) =>
            _mask == (nint)mask && _n == n && _maskRow == maskRow && _scale == scale && _width == width;

        /// <summary>Room for <paramref name="width"/> columns, from now the list of this mask row.</summary>
        public int[] Take(byte* mask, int n, int maskRow, int scale, int width)
        {
            if (Columns.Length < width) Columns = new int[width];
            (_mask, _n, _maskRow, _scale, _width) = ((nint)mask, n, maskRow, scale, width);
            return Columns;
        }
    }

    /// <summary>
    /// For every active mask cell, marks the input pixels its outputs read: rows
    /// [y0·sH − padTop, (y1 − 1)·sH − padTop + dH·(kH − 1)] and likewise columns, clipped to the image
    /// (with dilation this includes the rows between taps: a superset, never a subset).
    /// </summary>
    private byte[] MarkNeededPixels(BinaryConv2dParams p, byte* mask, int mh, int mw)
    {
        int k = MaskScale, hOut = p.OutHeight, wOut = p.OutWidth, w = p.InWidth;
        // Pooled: a per-call allocation of N·H·W bytes would feed the GC on every frame.
        var needed = ArrayPool<byte>.Shared.Rent(p.Batch * p.InHeight * w);
        Array.Clear(needed, 0, p.Batch * p.InHeight * w);
        for (int n = 0; n < p.Batch; n++)
            for (int my = 0; my < mh; my++)
            {
                byte* cells = mask + ((long)n * mh + my) * mw;
                int y0 = my * k, y1 = Math.Min(hOut, y0 + k);
                int r0 = Math.Max(0, y0 * p.StrideHeight - p.PadTop);
                int r1 = Math.Min(p.InHeight - 1, (y1 - 1) * p.StrideHeight - p.PadTop + p.DilationHeight * (p.KernelHeight - 1));
                for (int mx = 0; mx < mw; mx++)
                {
                    if (cells[mx] == 0) continue;
                    int x0 = mx * k, x1 = Math.Min(wOut, x0 + k);
                    int c0 = Math.Max(0, x0 * p.StrideWidth - p.PadLeft);
                    int c1 = Math.Min(w - 1, (x1 - 1) * p.StrideWidth - p.PadLeft + p.DilationWidth * (p.KernelWidth - 1));
                    if (c1 < c0) continue;
                    for (int r = r0; r <= r1; r++)
                        new Span<byte>(needed, (n * p.InHeight + r) * w + c0, c1 - c0 + 1).Fill(1);
                }
            }
        return needed;
    }
}
