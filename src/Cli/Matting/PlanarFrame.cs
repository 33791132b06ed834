using System.Runtime.InteropServices;
using OpenCvSharp;

namespace BiVM.Cli.Matting;

/// <summary>
/// A frame's planes of 32-bit floats in 0..1, in one pinned array (so ONNX Runtime and OpenCV both work on it in
/// place), with an OpenCV header over each plane. Reused frame after frame: nothing is allocated per frame unless
/// the frame size changes.
/// </summary>
internal sealed class PlanarFrame : IDisposable
{
    private Mat[] _planes = [];

    /// <summary>Planes (1 or 3) of <see cref="Width"/>·<see cref="Height"/> floats; RGB order for colour.</summary>
    public PlanarFrame(int channels) => Channels = channels;

    public int Channels { get; }
    public int Width { get; private set; }
    public int Height { get; private set; }
    public float[] Data { get; private set; } = [];

    /// <summary>Plane c as an OpenCV single-channel float image over <see cref="Data"/>.</summary>
    public Mat Plane(int c) => _planes[c];

    /// <summary>The values of plane c.</summary>
    public Span<float> PlaneSpan(int c) => Data.AsSpan(c * Width * Height, Width * Height);

    /// <summary>Makes the frame <paramref name="width"/>×<paramref name="height"/>; reallocates only when the size changes.</summary>
    public void EnsureSize(int width, int height)
    {
        if (width == Width && height == Height) return;
        DisposePlanes();
        int n = width * height;
        Data = GC.AllocateUninitializedArray<float>(Channels * n, pinned: true);
        nint origin = Marshal.UnsafeAddrOfPinnedArrayElement(Data, 0);
        _planes = new Mat[Channels];
        for (int c = 0; c < Channels; c++) _planes[c] = Mat.FromPixelData(height, width, MatType.CV_32FC1, origin + c * n * sizeof(float));
        Width = width;
        Height = height;
    }

    private void DisposePlanes()
    {
        foreach (var plane in _planes) plane.Dispose();
        _planes = [];
    }

    public void Dispose() => DisposePlanes();
}

/// <summary>
/// The per-pixel conversions of a matting run, into buffers that live as long as the run: BGR bytes to planar RGB
/// floats (the model's input) and the composite over a background back to BGR bytes, each in one pass
/// (<see cref="PixelKernels"/>); the optional alpha and foreground outputs by OpenCV's vectorised kernels. Rounding is
/// OpenCV's saturate_cast (round half to even), as <c>MatteFrame</c>'s <c>MathF.Round</c>. One converter per thread:
/// it keeps scratch planes.
/// </summary>
internal sealed class FrameConverter : IDisposable
{
    private readonly Mat[] _bytePlanes = [new(), new(), new(), new()];
    private readonly Mat[] _mergeOrder = new Mat[3];
    private readonly Mat[] _mergeOrderAlpha = new Mat[4];

    /// <summary>A BGR 8-bit image into planar RGB floats in 0..1 (R plane first), in one pass (<see cref="PixelKernels.ToPlanar"/>).</summary>
    public void ToPlanar(Mat bgr, PlanarFrame into)
    {
        RequirePacked(bgr, MatType.CV_8UC3);
        into.EnsureSize(bgr.Width, bgr.Height);
        PixelKernels.ToPlanar(bgr.AsSpan<byte>(), into.PlaneSpan(0), into.PlaneSpan(1), into.PlaneSpan(2));
    }

    /// <summary>
    /// C = α·F + (1 − α)·B per channel, written as BGR bytes into <paramref name="bgr"/>: one pass per channel from the
    /// model's planes to bytes (<see cref="PixelKernels.Composite(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{byte})"/>);
    /// a colour background is a constant, so no background plane is read.
    /// </summary>
    public void Composite(PlanarFrame alpha, PlanarFrame foreground, Background background, int index, Mat bgr)
    {
        int w = alpha.Width, h = alpha.Height;
        var a = alpha.PlaneSpan(0);
        var colour = background.Uniform;
        var planes = colour is null ? background.At(index, w, h) : null;
        for (int c = 0; c < 3; c++)
        {
            _bytePlanes[c].Create(h, w, MatType.CV_8UC1);
            var into = _bytePlanes[c].AsSpan<byte>();
            if (colour is not null) PixelKernels.Composite(foreground.PlaneSpan(c), a, colour[c], into);
            else PixelKernels.Composite(foreground.PlaneSpan(c), a, planes!.PlaneSpan(c), into);
        }
        MergeBgr(bgr, withAlpha: null);
    }

    /// <summary>The foreground as BGR bytes, or BGRA with the alpha as the fourth channel.</summary>
    public void Foreground(PlanarFrame foreground, PlanarFrame? alpha, Mat into)
    {
        for (int c = 0; c < 3; c++) foreground.Plane(c).ConvertTo(_bytePlanes[c], MatType.CV_8UC1, 255);
        if (alpha is not null) alpha.Plane(0).ConvertTo(_bytePlanes[3], MatType.CV_8UC1, 255);
        MergeBgr(into, alpha is null ? null : _bytePlanes[3]);
    }

    /// <summary>The alpha matte as 8-bit grey.</summary>
    public static void Alpha(PlanarFrame alpha, Mat into) => alpha.Plane(0).ConvertTo(into, MatType.CV_8UC1, 255);

    private void MergeBgr(Mat into, Mat? withAlpha)
    {
        if (withAlpha is null)
        {
            _mergeOrder[0] = _bytePlanes[2]; _mergeOrder[1] = _bytePlanes[1]; _mergeOrder[2] = _bytePlanes[0];
            Cv2.Merge(_mergeOrder, into);
        }
        else
        {
            _mergeOrderAlpha[0] = _bytePlanes[2]; _mergeOrderAlpha[1] = _bytePlanes[1]; _mergeOrderAlpha[2] = _bytePlanes[0]; _mergeOrderAlpha[3] = withAlpha;
            Cv2.Merge(_mergeOrderAlpha, into);
        }
    }

    /// <summary>The kernels read a Mat as one packed array: every Mat here (decoded, read, resized) is continuous.</summary>
    private static void RequirePacked(Mat image, MatType type)
    {
        if (image.Type() != type || !image.IsContinuous())
            throw new InvalidOperationException($"expected a continuous {type} image, got {image.Type()}{(image.IsContinuous() ? "" : " (not continuous)")}");
    }

    public void Dispose()
    {
        foreach (var plane in _bytePlanes) plane.Dispose();
    }
}
