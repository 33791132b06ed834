using OpenCvSharp;

namespace BiVM.Cli.Matting;

/// <summary>Copies between 8-bit Mats and packed byte arrays (rows without padding).</summary>
internal static class MatBytes
{
    public static byte[] ToArray(Mat mat)
    {
        using var continuous = mat.IsContinuous() ? null : mat.Clone();
        var source = continuous ?? mat;
        var bytes = new byte[source.Total() * source.ElemSize()];
        System.Runtime.InteropServices.Marshal.Copy(source.Data, bytes, 0, bytes.Length);
        return bytes;
    }

    public static Mat FromArray(byte[] bytes, int width, int height, int channels)
    {
        var mat = new Mat(height, width, channels == 1 ? MatType.CV_8UC1 : MatType.CV_8UC3);
        System.Runtime.InteropServices.Marshal.Copy(bytes, 0, mat.Data, bytes.Length);
        return mat;
    }
}
