using OpenCvSharp;

namespace BiVM.Data.Synthesis;

/// <summary>
/// A clip's foreground before motion: per frame, alpha (CV_32FC1) and colour (CV_32FC3, RGB) in
/// canvas pixels (the frame's size). The generator warps and augments whatever it renders the same
/// way, so generated figures and real-person cut-outs get the same motion and colour augmentation.
/// </summary>
internal interface IForeground : IDisposable
{
    void Render(int t, Mat alpha, Mat fgr);
}
