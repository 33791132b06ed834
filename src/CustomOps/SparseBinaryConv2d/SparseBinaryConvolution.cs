using BiVM.CustomOps.BinaryConv2d;

namespace BiVM.CustomOps.SparseBinaryConv2d;

/// <summary>
/// The SHB masked conv: outputs where the upsampled mask is 0 are 0 and cost nothing beyond writing the zero;
/// elsewhere the result equals <see cref="BinaryConvolution"/>'s bit for bit (the same stages run on the active
/// row segments).
/// </summary>
/// <remarks>
/// Work follows the active fraction twice: (1) only the input pixels inside the receptive fields of active outputs
/// are bit-packed, at a granularity of 8-pixel chunks (the packer's vector width), and (2) the gather / popcount /
/// correction / transform stages run only on maximal runs of active output pixels in each row.
/// </remarks>
public sealed unsafe class SparseBinaryConvolution
{
    private const int Chunk = 8;
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
    public void Run(float* x, int batch, int height, int width, byte* mask, float* y, ParallelRunner parallel)
    {
        var p = _dense.CheckedCall(batch, height, width);
        int k = MaskScale, hOut = p.OutHeight, wOut = p.OutWidth;
        var (mh, mw) = MaskGeometry.MaskSize(hOut, wOut, k);
        int chunks = (width + Chunk - 1) / Chunk;
        var needed = MarkNeededChunks(p, mask, mh, mw, chunks);

        using var packed = new PackedActivations(p);
        parallel(batch * height, row =>
        {
            int n = row / height, iy = row % height;
            for (int c = 0; c < chunks; c++)
            {
                if (needed[row * chunks + c] == 0) continue;
                int c1 = c;
                while (c1 + 1 < chunks && needed[row * chunks + c1 + 1] != 0) c1++;
                _dense.PackRow(p, x, packed.Pointer, n, iy, c * Chunk, Math.Min(width, (c1 + 1) * Chunk));
                c = c1;
            }
        });
        parallel(batch * hOut, row =>
        {
            int n = row / hOut, oy = row % hOut;
            for (int co = 0; co < p.OutChannels; co++)
                new Span<float>(y + (((long)n * p.OutChannels + co) * hOut + oy) * wOut, wOut).Clear();
            Span<int> runs = mw <= 512 ? stackalloc int[2 * mw] : new int[2 * mw];
            int count = MaskGeometry.ActiveRuns(mask, mh, mw, k, n, oy, wOut, runs);
            for (int r = 0; r < count; r++)
                _dense.ComputeSegment(p, packed.Pointer, y, n, oy, runs[2 * r], runs[2 * r + 1] - runs[2 * r]);
        });
    }

    /// <summary>
    /// For every active mask cell, marks the 8-pixel input chunks its outputs read: rows
    /// [y0·sH − padTop, (y1 − 1)·sH − padTop + dH·(kH − 1)] and the same for columns, clipped to the image.
    /// A superset with dilation (rows between taps), never a subset.
    /// </summary>
    private byte[] MarkNeededChunks(BinaryConv2dParams p, byte* mask, int mh, int mw, int chunks)
    {
        int k = MaskScale, hOut = p.OutHeight, wOut = p.OutWidth;
        var needed = new byte[p.Batch * p.InHeight * chunks];
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
                    int c1 = Math.Min(p.InWidth - 1, (x1 - 1) * p.StrideWidth - p.PadLeft + p.DilationWidth * (p.KernelWidth - 1));
                    if (c1 < c0) continue;
                    for (int r = r0; r <= r1; r++)
                        new Span<byte>(needed, (n * p.InHeight + r) * chunks + c0 / Chunk, c1 / Chunk - c0 / Chunk + 1).Fill(1);
                }
            }
        return needed;
    }
}
