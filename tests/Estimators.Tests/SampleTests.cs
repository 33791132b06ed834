using BiVM.Estimators.Video;
using BiVM.Samples.MatteFolder;
using Microsoft.ML.Data;

namespace BiVM.Estimators.Tests;

/// <summary>samples/MatteFolder, run as a user runs it, on a generated folder of images with the shipped model.</summary>
public sealed class SampleTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bivm-sample-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void The_sample_mattes_a_folder_of_images_and_saves_one_grey_alpha_png_per_image()
    {
        Assert.True(DefaultModel.IsAvailable, "this build ships no models/bivm.onnx");
        string images = Directory.CreateDirectory(Path.Combine(_dir, "images")).FullName;
        string output = Path.Combine(_dir, "alpha");
        var sizes = new[] { (96, 54), (96, 54), (80, 60) };
        for (int i = 0; i < sizes.Length; i++)
        {
            var (w, h) = sizes[i];
            var bgra = new byte[4 * w * h];
            for (int p = 0; p < w * h; p++)
            {
                int x = p % w, y = p / w;
                bool figure = Math.Abs(x - w / 2 - 3 * i) < w / 6 && y > h / 5;
                (bgra[4 * p], bgra[4 * p + 1], bgra[4 * p + 2], bgra[4 * p + 3]) = figure ? ((byte)40, (byte)60, (byte)200, (byte)255) : ((byte)(100 + x), (byte)180, (byte)90, (byte)255);
            }
            using var image = MLImage.CreateFromPixels(w, h, MLPixelFormat.Bgra32, bgra);
            image.Save(Path.Combine(images, $"frame{i:D2}.png"));
        }
        File.WriteAllText(Path.Combine(images, "notes.txt"), "not an image: skipped");

        Assert.Equal(0, MatteFolderSample.Main([images, output]));

        var written = Directory.GetFiles(output).Select(f => Path.GetFileName(f)!).Order().ToArray();
        Assert.Equal(["frame00.png", "frame01.png", "frame02.png"], written);
        for (int i = 0; i < sizes.Length; i++)
        {
            using var alpha = MLImage.CreateFromFile(Path.Combine(output, $"frame{i:D2}.png"));
            Assert.Equal(sizes[i], (alpha.Width, alpha.Height));
            var px = alpha.Pixels;
            for (int p = 0; p < alpha.Width * alpha.Height; p++)
            {
                Assert.Equal(px[4 * p], px[4 * p + 1]);   // grey
                Assert.Equal(px[4 * p], px[4 * p + 2]);
                Assert.Equal(255, px[4 * p + 3]);          // opaque
            }
        }
    }

    [Fact]
    public void The_sample_refuses_a_missing_folder_with_its_usage()
    {
        Assert.Equal(2, MatteFolderSample.Main([Path.Combine(_dir, "none"), Path.Combine(_dir, "out")]));
    }
}
