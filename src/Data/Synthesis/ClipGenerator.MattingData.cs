using BiVM.Data.IO;
using OpenCvSharp;

namespace BiVM.Data.Synthesis;

/// <summary>
/// Real matting data for users who have it (ClipOptions.MatteData, BackgroundData; docs/data.md,
/// "Real matting data"): foregrounds with alpha and backgrounds in RVM's layouts, through the same
/// frame sampler, crops and augmentation as the catalogue's media. The split is the user's: point
/// training and validation at different folders.
/// </summary>
public sealed partial class ClipGenerator
{
    private readonly IReadOnlyList<MatteEntry> _mattes;
    private readonly IReadOnlyList<FrameSequence>? _backgroundData;

    private static void OpenMattingData(ClipOptions options, out IReadOnlyList<MatteEntry> mattes, out IReadOnlyList<FrameSequence>? backgrounds)
    {
        mattes = options.MatteForegrounds > 0 ? MattingDataset.Open(options.MatteData!) : [];
        backgrounds = options.BackgroundData is { } folder ? MattingDataset.OpenBackgrounds(folder) : null;
    }

    /// <summary>
    /// A matte's frames (RVM's frame sampler for clips; an image is a still) cropped as backgrounds
    /// are (output aspect ± 10 %, 50–100 % of the fitting size) and resized to the frame.
    /// </summary>
    private IForeground MatteLayer(SeededRandom rng, MatteEntry matte, out string frames)
    {
        int T = Options.Frames;
        var size = new Size(Options.Width, Options.Height);
        int count = matte.FrameCount;
        var indices = count > 1 ? SampleFrames(rng, T, count) : new int[T];
        frames = count > 1 ? $"[{indices[0]}..{indices[^1]}]" : "";
        var fgr = matte.Fgr.Read(indices);
        var pha = matte.Pha.Read(indices, alpha: true);
        try
        {
            for (int t = 0; t < T; t++)
                if (fgr[t].Size() != pha[t].Size())
                    throw new InvalidDataException($"{matte.Fgr.Path} frame {indices[t]} is {fgr[t].Width}x{fgr[t].Height} but its alpha in {matte.Pha.Path} is {pha[t].Width}x{pha[t].Height}.");
            var crop = CropRect(rng, fgr[0].Size(), size);
            var alphaFrames = new Mat[T];
            var colourFrames = new Mat[T];
            for (int t = 0; t < T; t++)
            {
                colourFrames[t] = ToFloatRgb(fgr[t], crop, size);
                using var region = new Mat(pha[t], crop);
                using var resized = new Mat();
                Cv2.Resize(region, resized, size, 0, 0, crop.Width > size.Width ? InterpolationFlags.Area : InterpolationFlags.Linear);
                alphaFrames[t] = new Mat();
                resized.ConvertTo(alphaFrames[t], MatType.CV_32FC1, 1 / 255.0);
            }
            return new FrameListLayer(alphaFrames, colourFrames);
        }
        finally
        {
            foreach (var m in fgr.Concat(pha)) m.Dispose();
        }
    }

    /// <summary>A background from <see cref="ClipOptions.BackgroundData"/>: a still image, or frames of a video or frame folder.</summary>
    private string FolderBackground(SeededRandom rng, Size size, Mat[] bgr, out bool still)
    {
        int T = bgr.Length;
        var source = rng.Choose(_backgroundData!);
        still = source.Kind == SequenceKind.Image;
        var indices = still ? [0] : SampleFrames(rng, T, source.FrameCount);
        var decoded = source.Read(indices);
        try
        {
            var crop = CropRect(rng, decoded[0].Size(), size);
            for (int t = 0; t < T; t++) bgr[t] = ToFloatRgb(decoded[still ? 0 : t], crop, size);
        }
        finally
        {
            foreach (var m in decoded) m.Dispose();
        }
        string name = Path.GetFileName(source.Path);
        return still ? name : $"{name}[{indices[0]}..{indices[^1]}]";
    }

    /// <summary>Precomputed frames: a matte data set's foreground, already in frame coordinates.</summary>
    private sealed class FrameListLayer(Mat[] alpha, Mat[] fgr) : IForeground
    {
        public void Render(int t, Mat a, Mat f)
        {
            alpha[t].CopyTo(a);
            fgr[t].CopyTo(f);
        }

        public void Dispose()
        {
            foreach (var m in alpha.Concat(fgr)) m.Dispose();
        }
    }
}
