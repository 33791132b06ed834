using BiVM.Contracts;
using BiVM.Data.IO;
using BiVM.Data.Metrics;
using BiVM.Data.Synthesis;
using BiVM.Estimators.Video;

namespace BiVM.Cli.Evaluation;

/// <summary>
/// Scores ONNX matting models on clips with ground truth, the way they are deployed: each clip is a
/// new stream through a <see cref="VideoMatter"/>, frame by frame, and the predictions are scored with
/// RVM's metrics (BiVM.Data.Metrics). Evaluating the ONNX file, not the TorchSharp weights, is the
/// point: the numbers describe what users run.
/// </summary>
internal static class ModelEvaluator
{
    public static void Evaluate(MetricsTable table, string row, MattingSession session, IEnumerable<Clip> clips, float? downsampleRatio,
        Action<int>? clipDone = null, CancellationToken cancel = default)
    {
        int index = 0;
        foreach (var clip in clips)
        {
            cancel.ThrowIfCancellationRequested();
            using var stream = new VideoMatter(session, downsampleRatio);
            int n = clip.Width * clip.Height;
            var pha = new float[clip.Frames * n];
            var fgr = new float[clip.Frames * 3 * n];
            for (int t = 0; t < clip.Frames; t++)
            {
                var frame = stream.Process(clip.Src.AsSpan(t * 3 * n, 3 * n), clip.Width, clip.Height, cancel);
                frame.Alpha.CopyTo(pha, t * n);
                frame.Foreground.CopyTo(fgr, t * 3 * n);
            }
            string name = string.IsNullOrEmpty(clip.Description) ? $"clip{index:D4}" : clip.Description;
            table.AddClip(row, name, clip, pha, clip.Fgr is null ? null : fgr);
            clipDone?.Invoke(++index);
        }
        if (index == 0) throw new UserInputException("no clips to evaluate");
    }

    /// <summary>The clips of <c>--data DIR</c> (a clip folder or a folder of clip folders) or of the validation split with <c>--seed</c>.</summary>
    public static (string Name, IEnumerable<Clip> Clips, int? Count) Clips(string? dataDir, long? seed, int clipCount, int frames, int width, int height)
    {
        if (dataDir is not null)
        {
            if (!Directory.Exists(dataDir)) throw new UserInputException($"--data {dataDir}: no such folder");
            var dirs = ClipFolder.ClipDirectories(dataDir);
            return (Path.GetFileName(Path.GetFullPath(dataDir).TrimEnd('/')), dirs.Select(ClipFolder.Read), dirs.Count);
        }
        // With the defaults this is exactly DataSets.Validation (same name, seed, split, count and options).
        var spec = DataSets.ValidationWithSeed(seed ?? DataSets.Validation.Seed, clipCount, new ClipOptions { Frames = frames, Width = width, Height = height });
        return (spec.Name, spec.Clips(), spec.ClipCount);
    }
}
