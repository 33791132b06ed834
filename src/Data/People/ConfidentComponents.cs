using OpenCvSharp;

namespace BiVM.Data.People;

/// <summary>
/// The connected components (8-connected) of a matte's confident part, alpha ≥ 128: the bodies that
/// cleaning keeps or drops and that extraction turns into people. Label 0 is the rest.
/// </summary>
internal sealed class ConfidentComponents : IDisposable
{
    public ConfidentComponents(Mat alpha)
    {
        if (alpha.Type() != MatType.CV_8UC1) throw new ArgumentException($"alpha must be CV_8UC1, got {alpha.Type()}.", nameof(alpha));
        Cv2.Threshold(alpha, Mask, 127, 255, ThresholdTypes.Binary);
        using var centroids = new Mat();
        Count = Cv2.ConnectedComponentsWithStats(Mask, Labels, Stats, centroids, PixelConnectivity.Connectivity8, MatType.CV_32S);
    }

    /// <summary>255 where alpha ≥ 128.</summary>
    public Mat Mask { get; } = new();

    /// <summary>CV_32SC1: each pixel's component, 0 outside the mask.</summary>
    public Mat Labels { get; } = new();

    /// <summary>Number of labels, the background's 0 included.</summary>
    public int Count { get; }

    private Mat Stats { get; } = new();

    public int Stat(int label, ConnectedComponentsTypes what) => Stats.At<int>(label, (int)what);

    /// <summary>The largest value of <paramref name="what"/> over the components (0 when there are none).</summary>
    public int Max(ConnectedComponentsTypes what)
    {
        int max = 0;
        for (int i = 1; i < Count; i++) max = Math.Max(max, Stat(i, what));
        return max;
    }

    public void Dispose()
    {
        Mask.Dispose();
        Labels.Dispose();
        Stats.Dispose();
    }
}
