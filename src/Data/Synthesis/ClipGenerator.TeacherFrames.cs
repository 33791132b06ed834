using BiVM.Data.People;
using OpenCvSharp;

namespace BiVM.Data.Synthesis;

/// <summary>
/// Distillation clips (<see cref="ClipOptions.TeacherFrames"/>; docs/people.md): real frames where no composite exists,
/// whose only target is the teacher's soft alpha. Consecutive stored frames of a video (or one photo held still), one
/// crop as backgrounds are cropped, a camera motion applied to frame and alpha alike, and the photometric augmentation
/// of the composites on the frame. The clip has no foreground colour and no background (<see cref="Clip.Fgr"/> null):
/// the trainer supervises its alpha alone, weighted by λ_teacher.
/// </summary>
public sealed partial class ClipGenerator
{
    private readonly TeacherFrames? _teacherFrames;

    private Clip TeacherClip(SeededRandom rng, long seed, long index)
    {
        int T = Options.Frames, W = Options.Width, H = Options.Height, n = W * H;
        var size = new Size(W, H);
        var sequence = rng.Choose(_teacherFrames!.Sequences);
        int count = sequence.Frames.Count;
        var indices = new int[T];
        if (count > 1)
        {
            int start = rng.NextInt(Math.Max(1, count - T + 1));
            for (int t = 0; t < T; t++) indices[t] = Math.Min(count - 1, start + t);
            if (rng.Chance(0.5)) Array.Reverse(indices);
        }
        var crop = CropRect(rng, _teacherFrames.Frame(sequence, indices[0]).Size(), size);
        var camera = rng.Chance(Options.BackgroundMotion) ? AffineMotion.Random(rng, W, H) : AffineMotion.None;
        var src = new Mat[T];
        var pha = new Mat[T];
        try
        {
            for (int t = 0; t < T; t++)
            {
                src[t] = ToFloatRgb(_teacherFrames.Frame(sequence, indices[t]), crop, size);
                pha[t] = new Mat();
                using (var region = new Mat(_teacherFrames.Alpha(sequence, indices[t]), crop))
                using (var resized = new Mat())
                {
                    Cv2.Resize(region, resized, size, 0, 0, crop.Width > W ? InterpolationFlags.Area : InterpolationFlags.Linear);
                    resized.ConvertTo(pha[t], MatType.CV_32FC1, 1 / 255.0);
                }
                using var m = camera.At(t, T).ToMatrix(W / 2.0, H / 2.0).ToMat();
                // Reflected borders for both: the reflected pixels' target is the reflected alpha.
                Cv2.WarpAffine(src[t], src[t], m, size, InterpolationFlags.Linear, BorderTypes.Reflect101);
                Cv2.WarpAffine(pha[t], pha[t], m, size, InterpolationFlags.Linear, BorderTypes.Reflect101);
            }
            var applied = new List<string>();
            if (rng.Chance(Options.HorizontalFlip)) { Augmentations.HorizontalFlip(src, pha); applied.Add("flip"); }
            if (rng.Chance(Options.Noise)) { Augmentations.Noise(rng, src); applied.Add("noise"); }
            if (rng.Chance(Options.ColorJitter)) { Augmentations.ColorJitter(rng, src); applied.Add("jitter"); }
            if (rng.Chance(Options.Grayscale)) { Augmentations.Grayscale(src); applied.Add("gray"); }
            if (rng.Chance(Options.Blur)) { Augmentations.Blur(rng, src, pha); applied.Add("blur"); }
            foreach (var a in pha) Augmentations.Clamp01(a);
            foreach (var s in src) Augmentations.Clamp01(s);

            string frames = count > 1 ? $"[{indices[0]}..{indices[^1]}]" : "";
            string description = $"seed={seed} index={index} split={Split.ToString().ToLowerInvariant()} teacher={sequence.Id}{frames} aug=[{string.Join(',', applied)}]";
            var clip = new Clip(T, H, W, new float[T * 3 * n], new float[T * n], description: description);
            for (int t = 0; t < T; t++)
            {
                pha[t].AsSpan<float>().CopyTo(clip.Pha.AsSpan(t * n, n));
                for (int c = 0; c < 3; c++) ExtractPlane(src[t], c, clip.Src, (t * 3 + c) * n);
            }
            return clip;
        }
        finally
        {
            foreach (var m in src.Concat(pha)) m?.Dispose();
        }
    }
}
