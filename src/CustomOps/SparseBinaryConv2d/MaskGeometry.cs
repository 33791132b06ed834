namespace BiVM.CustomOps.SparseBinaryConv2d;

/// <summary>
/// How the coarse SHB mask maps onto output pixels (docs/model-contract.md, "Decisions"): nearest upsampling by
/// repetition, output (y, x) is active iff Mask[n, 0, ⌊y / k⌋, ⌊x / k⌋] ≠ 0, mask shape
/// [N, 1, ⌈H_out / k⌉, ⌈W_out / k⌉], k = mask_scale ∈ {1, 2, 4, 8, 16}.
/// </summary>
public static unsafe class MaskGeometry
{
    public static readonly IReadOnlyList<int> AllowedScales = [1, 2, 4, 8, 16];

    public static bool IsAllowedScale(long k) => k is 1 or 2 or 4 or 8 or 16;

    /// <summary>The mask height and width required for an output of <paramref name="hOut"/>×<paramref name="wOut"/>.</summary>
    public static (int Height, int Width) MaskSize(int hOut, int wOut, int k) => ((hOut + k - 1) / k, (wOut + k - 1) / k);

    /// <summary>
    /// Writes the active runs of output row <paramref name="y"/> of image <paramref name="n"/> as (start, end)
    /// pairs into <paramref name="runs"/> (room for 2·⌈W_out / k⌉ ints); returns the number of runs.
    /// Adjacent active mask cells merge into one run, so the kernel sees long segments.
    /// </summary>
    public static int ActiveRuns(byte* mask, int maskHeight, int maskWidth, int k, int n, int y, int wOut, Span<int> runs)
    {
        byte* row = mask + ((long)n * maskHeight + y / k) * maskWidth;
        int count = 0;
        for (int mx = 0; mx < maskWidth; mx++)
        {
            if (row[mx] == 0) continue;
            int start = mx * k, end = Math.Min(wOut, start + k);
            if (count > 0 && runs[2 * count - 1] == start) runs[2 * count - 1] = end;
            else { runs[2 * count] = start; runs[2 * count + 1] = end; count++; }
        }
        return count;
    }

    /// <summary>
    /// The runs [runs[2i], runs[2i + 1]) (ascending, apart) joined into stretches where fewer than <paramref name="gap"/>
    /// columns lie between two, in place; returns how many stretches. A stretch holds inactive columns between its runs.
    /// </summary>
    public static int Stretches(Span<int> runs, int count, int gap)
    {
        if (count == 0) return 0;
        int stretches = 1;
        for (int r = 1; r < count; r++)
        {
            if (runs[2 * r] - runs[2 * stretches - 1] < gap) runs[2 * stretches - 1] = runs[2 * r + 1];
            else
            {
                runs[2 * stretches] = runs[2 * r];
                runs[2 * stretches + 1] = runs[2 * r + 1];
                stretches++;
            }
        }
        return stretches;
    }
}
