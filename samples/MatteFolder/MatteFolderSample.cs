using BiVM.Estimators.MLNet;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BiVM.Samples.MatteFolder;

/// <summary>
/// <c>dotnet run --project samples/MatteFolder -- IMAGES_DIR OUT_DIR [MODEL.onnx]</c>: mattes the images of a folder,
/// in name order, as the frames of one video (the recurrent state carried from each to the next; images of another
/// size start a new stream), and writes one alpha PNG per image to OUT_DIR under the image's name.
/// </summary>
public static class MatteFolderSample
{
    /// <summary>One row per image file: what LoadImages reads.</summary>
    public sealed class ImageFile
    {
        /// <summary>Path of the image.</summary>
        public string Path { get; set; } = "";
    }

    /// <summary>What the sample reads back: the image (for its size) and the alpha matte.</summary>
    public sealed class Matted
    {
        /// <summary>The image as LoadImages read it.</summary>
        public MLImage? Image { get; set; }

        /// <summary>H·W alpha values in 0..1.</summary>
        [VectorType] public float[] Alpha { get; set; } = [];

        /// <summary>Path of the image.</summary>
        public string Path { get; set; } = "";
    }

    /// <summary>The entry point; returns the process exit code (0 done, 2 bad arguments).</summary>
    public static int Main(string[] args)
    {
        if (args.Length is < 2 or > 3 || !Directory.Exists(args[0]))
        {
            Console.Error.WriteLine("usage: MatteFolder IMAGES_DIR OUT_DIR [MODEL.onnx]   (IMAGES_DIR must exist)");
            return 2;
        }
        int written = Run(args[0], args[1], args.Length == 3 ? args[2] : null);
        Console.WriteLine($"wrote {written} alpha PNGs to {Path.GetFullPath(args[1])}");
        return 0;
    }

    /// <summary>Mattes every .png/.jpg/.jpeg/.bmp in <paramref name="imagesDir"/>; returns the number of PNGs written.</summary>
    public static int Run(string imagesDir, string outDir, string? modelPath = null)
    {
        string[] extensions = [".png", ".jpg", ".jpeg", ".bmp"];
        var files = Directory.EnumerateFiles(imagesDir)
            .Where(f => extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Order(StringComparer.Ordinal)
            .Select(f => new ImageFile { Path = f })
            .ToArray();
        Directory.CreateDirectory(outDir);

        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(files);
        // LoadImages reads each file at its own size; ApplyBiVM takes images of any size.
        var pipeline = ml.Transforms.LoadImages("Image", imageFolder: null, inputColumnName: nameof(ImageFile.Path))
            .Append(ml.Transforms.ApplyBiVM(new BiVMOptions { InputColumnName = "Image", ModelPath = modelPath }));
        // The fitted chain holds the ONNX Runtime session: dispose it when done.
        using var model = pipeline.Fit(data);

        int written = 0;
        // One cursor is one video: the rows are matted in order. ML.NET disposes each row's image when the cursor
        // moves on, so the image's size is read inside the loop.
        foreach (var row in ml.Data.CreateEnumerable<Matted>(model.Transform(data), reuseRowObject: false))
        {
            using var alpha = MatteImages.FromAlpha(row.Alpha, row.Image!.Width, row.Image.Height);
            alpha.Save(Path.Combine(outDir, Path.GetFileNameWithoutExtension(row.Path) + ".png"));
            written++;
        }
        return written;
    }
}
