using BiVM.Data.Synthesis;
using OpenCvSharp;

namespace BiVM.Data.People;

/// <summary>
/// Several placed cut-outs as one still foreground (<see cref="ClipOptions.MaxPeople"/>), composited back to front
/// with the "over" operator: α = α_f + α_b(1 − α_f), F = (F_f·α_f + F_b·α_b(1 − α_f)) / α. The composite of the
/// group over a background then equals compositing the people one by one, so the alpha and foreground ground
/// truth stay exact. Where α = 0 the colour is the front layer's (it is seen only through the warp's taps).
/// </summary>
internal sealed class PeopleGroupLayer : IForeground
{
    private readonly Mat _alpha, _fgr;

    /// <param name="backToFront">Placed cut-outs, the farthest first; disposed here.</param>
    public PeopleGroupLayer(IReadOnlyList<CutOutLayer> backToFront)
    {
        if (backToFront.Count == 0) throw new ArgumentException("a group needs at least one cut-out", nameof(backToFront));
        try
        {
            _alpha = backToFront[0].AlphaCanvas.Clone();
            _fgr = backToFront[0].ColourCanvas.Clone();
            var a = _alpha.AsSpan<float>();
            var f = _fgr.AsSpan<float>();
            foreach (var layer in backToFront.Skip(1))
            {
                var fa = layer.AlphaCanvas.AsSpan<float>();
                var ff = layer.ColourCanvas.AsSpan<float>();
                for (int i = 0; i < a.Length; i++)
                {
                    float front = fa[i], back = a[i] * (1 - front), total = front + back;
                    for (int c = 0; c < 3; c++)
                        f[3 * i + c] = total > 0 ? (ff[3 * i + c] * front + f[3 * i + c] * back) / total : ff[3 * i + c];
                    a[i] = total;
                }
            }
        }
        finally
        {
            foreach (var layer in backToFront) layer.Dispose();
        }
    }

    public void Render(int t, Mat alpha, Mat fgr)
    {
        _alpha.CopyTo(alpha);
        _fgr.CopyTo(fgr);
    }

    public void Dispose()
    {
        _alpha.Dispose();
        _fgr.Dispose();
    }
}
