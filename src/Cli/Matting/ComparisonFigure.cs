using BiVM.Contracts;
using BiVM.Estimators.Video;
using OpenCvSharp;

namespace BiVM.Cli.Matting;

/// <summary>What <c>bivm compare</c> was asked to do.</summary>
internal sealed record CompareRequest(
    string Input,
    IReadOnlyList<string> Models,
    string Out,
    int Frame,
    string Background = "green",
    int Columns = 2,
    double Scale = 0.5,
    int Threads = 0,
    bool VerifyChecksum = true);

/// <summary>
/// One picture that shows several models side by side: frame <c>Frame</c> of a video, then that frame
/// composited onto the background by each model, in a grid with the model names written on the tiles.
/// Every model sees the frames before it too, so its recurrent state is warm as in real use.
/// </summary>
internal static class ComparisonFigure
{
    public static string Run(CompareRequest request, CancellationToken cancel = default)
    {
        if (System.IO.Path.GetExtension(request.Out).ToLowerInvariant() is not (".png" or ".jpg" or ".jpeg"))
            throw new UserInputException($"--out {request.Out}: the figure is one image (.png, .jpg)");
        using var background = Matting.Background.Parse(request.Background);
        using var sink = FrameSink.Create(request.Out, "--out", new OutputTiming(new Rational(1, 1)), SinkContent.Color, singleFrame: true);
        using var source = FrameSource.Open(request.Input);
        // Refused before any model is loaded or frame decoded: the frames before it would all be matted first.
        if (source.DeclaredFrames is { } declared && request.Frame >= declared)
            throw new UserInputException($"--frame {request.Frame}: {request.Input} has {declared} frame(s), numbered 0 to {declared - 1}");

        var matters = new List<VideoMatter>();
        var tiles = new List<(string Label, Mat Image)>();
        try
        {
            // The models take turns frame by frame: a session's threads spinning after its frame would slow the next
            // model's (VideoMatterOptions.SpinWhileIdle), so with more than one model they sleep instead.
            foreach (var model in request.Models)
                matters.Add(new VideoMatter(new VideoMatterOptions
                {
                    ModelPath = model, IntraOpThreads = request.Threads, VerifyChecksum = request.VerifyChecksum, SpinWhileIdle = request.Models.Count == 1,
                }));
            // One pass over the input: every model sees frames 0..Frame in order, so its recurrent state is warm.
            int index = 0;
            using var frame = new Mat();
            while (source.Read(frame))
            {
                cancel.ThrowIfCancellationRequested();
                using var rgb = new Mat();
                Cv2.CvtColor(frame, rgb, ColorConversionCodes.BGR2RGB);
                var mattes = matters.Select(m => m.ProcessRgb24(rgb.AsSpan<byte>(), frame.Width, frame.Height, cancel: cancel)).ToList();
                if (index++ < request.Frame) continue;

                tiles.Add(($"input, frame {request.Frame}", frame.Clone()));
                byte[] backgroundRgb = background.Rgb24(request.Frame, frame.Width, frame.Height);
                for (int m = 0; m < matters.Count; m++)
                {
                    using var composite = Mat.FromPixelData(frame.Height, frame.Width, MatType.CV_8UC3, mattes[m].CompositeRgb24(backgroundRgb));
                    var bgr = new Mat();
                    Cv2.CvtColor(composite, bgr, ColorConversionCodes.RGB2BGR);
                    tiles.Add((System.IO.Path.GetFileNameWithoutExtension(request.Models[m]), bgr));
                }
                break;
            }
            if (tiles.Count == 0) throw new UserInputException($"{request.Input}: has {index} frame(s), so there is no frame {request.Frame}");
            using var grid = Grid(tiles, request.Columns, request.Scale);
            sink.Write(grid, "figure");
            sink.Commit();
            return sink.Path;
        }
        finally
        {
            foreach (var (_, image) in tiles) image.Dispose();
            foreach (var matter in matters) matter.Dispose();
        }
    }

    private static Mat Grid(List<(string Label, Mat Image)> tiles, int columns, double scale)
    {
        int w = (int)Math.Round(tiles[0].Image.Width * scale), h = (int)Math.Round(tiles[0].Image.Height * scale);
        columns = Math.Min(columns, tiles.Count);
        int rows = (tiles.Count + columns - 1) / columns;
        var grid = new Mat(rows * h, columns * w, MatType.CV_8UC3, Scalar.White);
        for (int i = 0; i < tiles.Count; i++)
        {
            using var cell = new Mat(grid, new Rect(i % columns * w, i / columns * h, w, h));
            Cv2.Resize(tiles[i].Image, cell, new Size(w, h), interpolation: InterpolationFlags.Area);
            // Dark outline under white text: readable on any background.
            var origin = new Point(8, 24);
            Cv2.PutText(cell, tiles[i].Label, origin, HersheyFonts.HersheySimplex, 0.6, Scalar.Black, 4, LineTypes.AntiAlias);
            Cv2.PutText(cell, tiles[i].Label, origin, HersheyFonts.HersheySimplex, 0.6, Scalar.White, 1, LineTypes.AntiAlias);
        }
        return grid;
    }
}
