namespace BiVM.Data.Metrics;

/// <summary>
/// Connectivity error (RVM evaluate_lr.py MetricCONN). For t_i = 0.1·i, i = 1..10: Ω_i is the
/// largest 4-connected component of (g ≥ t_i) ∧ (p ≥ t_i); a pixel not yet assigned and outside Ω_i
/// gets l = t_{i−1}; pixels never assigned get l = 1. Then for x ∈ {g, p}: d = x − l,
/// φ_x = 1 − d·[d ≥ 0.15], and Conn = Σ|φ_g − φ_p| / 1000. Comparisons run in float32 as in the
/// reference (float32 maps against float thresholds).
/// </summary>
public static class Conn
{
    public const double Scale = 1e-3;

    public static double Compute(ReadOnlySpan<float> pred, ReadOnlySpan<float> truth, int width, int height)
    {
        FrameCheck.SameLength(pred, truth, "Conn");
        FrameCheck.Shape(truth, width, height, "Conn", "ground truth");
        int n = truth.Length;
        var roundDown = new float[n];
        Array.Fill(roundDown, -1f);
        var intersection = new bool[n];
        var labels = new int[n];
        var stack = new int[n];
        for (int i = 1; i <= 10; i++)
        {
            float threshold = (float)(i * 0.1), previous = (float)((i - 1) * 0.1); // np.arange(0, 1.1, 0.1)
            for (int k = 0; k < n; k++) intersection[k] = truth[k] >= threshold && pred[k] >= threshold;
            int largest = LargestComponent(intersection, labels, stack, width, height);
            for (int k = 0; k < n; k++)
                if (roundDown[k] == -1f && (largest == 0 || labels[k] != largest)) roundDown[k] = previous;
        }
        double sum = 0;
        for (int k = 0; k < n; k++)
        {
            float l = roundDown[k] == -1f ? 1f : roundDown[k];
            float dg = truth[k] - l, dp = pred[k] - l;
            float phiG = 1f - dg * (dg >= 0.15f ? 1f : 0f);
            float phiP = 1f - dp * (dp >= 0.15f ? 1f : 0f);
            sum += Math.Abs(phiG - phiP);
        }
        return sum * Scale;
    }

    /// <summary>
    /// Labels the 4-connected components of <paramref name="mask"/> in raster order of their first
    /// pixel (the order cv2.connectedComponents numbers them) and returns the label of the largest,
    /// the first on ties as np.argmax; 0 when the mask is empty.
    /// </summary>
    internal static int LargestComponent(bool[] mask, int[] labels, int[] stack, int width, int height)
    {
        Array.Clear(labels);
        int next = 0, best = 0, bestSize = 0;
        for (int start = 0; start < mask.Length; start++)
        {
            if (!mask[start] || labels[start] != 0) continue;
            int label = ++next, size = 0, top = 0;
            labels[start] = label;
            stack[top++] = start;
            while (top > 0)
            {
                int k = stack[--top];
                size++;
                int x = k % width, y = k / width;
                if (x > 0) Visit(k - 1);
                if (x < width - 1) Visit(k + 1);
                if (y > 0) Visit(k - width);
                if (y < height - 1) Visit(k + width);
            }
            if (size > bestSize)
            {
                bestSize = size;
                best = label;
            }

            void Visit(int j)
            {
                if (!mask[j] || labels[j] != 0) return;
                labels[j] = label;
                stack[top++] = j;
            }
        }
        return best;
    }
}
