using BiVM.Data.Synthesis;
using static TorchSharp.torch;

namespace BiVM.Training;

/// <summary>
/// A batch of clips as tensors [B, T, C, H, W]: composite, true foreground, true alpha. A clip without a
/// foreground (a teacher clip: real frames whose alpha is the teacher's, ClipOptions.TeacherFrames) has
/// <see cref="TeacherOnly"/> set and zeros as its foreground; the trainer supervises its alpha alone.
/// </summary>
public sealed record ClipBatch(Tensor Src, Tensor Fgr, Tensor Pha, IReadOnlyList<bool> TeacherOnly)
{
    public static ClipBatch From(IReadOnlyList<Clip> clips)
    {
        var first = clips[0];
        foreach (var c in clips)
            if (c.Frames != first.Frames || c.Width != first.Width || c.Height != first.Height)
                throw new ArgumentException($"clips of one batch differ in size: {c.Frames}×{c.Width}×{c.Height} vs {first.Frames}×{first.Width}×{first.Height}");
        long[] rgb = [clips.Count, first.Frames, 3, first.Height, first.Width];
        long[] alpha = [clips.Count, first.Frames, 1, first.Height, first.Width];
        return new ClipBatch(
            Stack(clips, c => c.Src, rgb),
            Stack(clips, c => c.Fgr ?? new float[c.Src.Length], rgb),
            Stack(clips, c => c.Pha, alpha),
            clips.Select(c => c.Fgr is null).ToArray());
    }

    private static Tensor Stack(IReadOnlyList<Clip> clips, Func<Clip, float[]> select, long[] shape)
    {
        long per = shape[1] * shape[2] * shape[3] * shape[4];
        var data = new float[clips.Count * per];
        for (int i = 0; i < clips.Count; i++)
        {
            var values = select(clips[i]);
            if (values.Length != per) throw new ArgumentException($"clip '{clips[i].Description}' has {values.Length} values, expected {per}");
            values.CopyTo(data, i * per);
        }
        return tensor(data, shape);
    }
}
