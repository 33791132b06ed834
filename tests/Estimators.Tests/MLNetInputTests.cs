using BiVM.Estimators.MLNet;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace BiVM.Estimators.Tests;

/// <summary>
/// ApplyBiVM over what ML.NET users have: images from LoadImages (any size) and ResizeImages, pixels from
/// ExtractPixels in each layout and scale, raw RGB bytes; all written with ML.NET's own transforms over image files
/// the test writes. The luma-key test model makes alpha the mean of R, G, B in 0..1, so every input form of the
/// same image must give the same alpha.
/// </summary>
public sealed class MLNetInputTests : IDisposable
{
    private readonly TestModelFolder _models = new();
    private readonly MLContext _ml = new(seed: 1);
    private string _dir => _models.Dir;
    private string _counter => _models.Counter;
    private string _luma => _models.Luma;

    public void Dispose() => _models.Dispose();

    public sealed class ImagePath
    {
        public string Path { get; set; } = "";
        public bool First { get; set; }
    }

    public sealed class Matte
    {
        [VectorType] public float[] Alpha { get; set; } = [];
        [VectorType] public float[] Foreground { get; set; } = [];
    }

    /// <summary>A PNG with a horizontal gradient in R, constant G and B (so resizing is not the identity everywhere).</summary>
    private string Png(string name, int width, int height, byte green, byte blue)
    {
        var bgra = new byte[4 * width * height];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int i = 4 * (y * width + x);
                (bgra[i], bgra[i + 1], bgra[i + 2], bgra[i + 3]) = (blue, green, (byte)(255 * x / Math.Max(1, width - 1)), 255);
            }
        string path = Path.Combine(_dir, name + ".png");
        using var image = MLImage.CreateFromPixels(width, height, MLPixelFormat.Bgra32, bgra);
        image.Save(path);
        return path;
    }

    private IDataView Files(params (string Path, bool First)[] files) =>
        _ml.Data.LoadFromEnumerable(files.Select(f => new ImagePath { Path = f.Path, First = f.First }).ToArray());

    private Matte[] Run(IEstimator<ITransformer> pipeline, IDataView data)
    {
        using var model = (IDisposable)pipeline.Fit(data);
        return _ml.Data.CreateEnumerable<Matte>(((ITransformer)model).Transform(data), reuseRowObject: false).ToArray();
    }

    private static float[] Luma(string path)
    {
        using var image = MLImage.CreateFromFile(path);
        var p = image.Pixels;
        int n = image.Width * image.Height;
        var alpha = new float[n];
        int r = image.PixelFormat == MLPixelFormat.Bgra32 ? 2 : 0, b = 2 - r;
        for (int i = 0; i < n; i++) alpha[i] = (p[4 * i + r] / 255f + p[4 * i + 1] / 255f + p[4 * i + b] / 255f) / 3f;
        return alpha;
    }

    [Fact]
    public void LoadImages_of_any_size_are_matted_and_a_size_change_or_the_new_stream_column_starts_a_stream()
    {
        string a = Png("a", 8, 6, 40, 90), b = Png("b", 8, 6, 10, 200), c = Png("c", 10, 6, 0, 0);
        var data = Files((a, true), (b, false), (c, false), (c, false), (a, true));
        var counted = Run(_ml.Transforms.LoadImages("Image", imageFolder: null, inputColumnName: "Path")
            .Append(_ml.Transforms.ApplyBiVM(new BiVMOptions { ModelPath = _counter, NewStreamColumnName = "First", IntraOpThreads = 1 })), data);
        Assert.Equal(new float[] { 0, 1, 0, 1, 0 }, counted.Select(m => m.Alpha[0]).ToArray());
        Assert.Equal(new[] { 48, 48, 60, 60, 48 }, counted.Select(m => m.Alpha.Length).ToArray());

        var luma = Run(_ml.Transforms.LoadImages("Image", null, "Path").Append(_ml.Transforms.ApplyBiVM(new BiVMOptions { ModelPath = _luma, IntraOpThreads = 1 })), data);
        Assert.Equal(Luma(a), luma[0].Alpha, new Tolerance(1e-6f));
        Assert.Equal(Luma(c), luma[2].Alpha, new Tolerance(1e-6f));
    }

    [Fact]
    public void ResizeImages_output_is_matted_with_fixed_size_outputs_that_ConvertToImage_turns_back_into_images()
    {
        string a = Png("a", 32, 20, 40, 90), b = Png("b", 24, 30, 10, 200);
        var data = Files((a, true), (b, false));
        var pipeline = _ml.Transforms.LoadImages("Raw", null, "Path")
            .Append(_ml.Transforms.ResizeImages("Image", 16, 12, "Raw"))
            .Append(_ml.Transforms.ApplyBiVM(new BiVMOptions { ModelPath = _luma, IntraOpThreads = 1 }))
            // The foreground as an image; the alpha as a grey image (the same plane as R, G and B).
            .Append(_ml.Transforms.ConvertToImage(12, 16, "ForegroundImage", "Foreground", scaleImage: 255f))
            .Append(_ml.Transforms.Concatenate("Grey", "Alpha", "Alpha", "Alpha"))
            .Append(_ml.Transforms.ConvertToImage(12, 16, "AlphaImage", "Grey", scaleImage: 255f));
        using var model = (IDisposable)pipeline.Fit(data);
        var output = ((ITransformer)model).Transform(data);
        Assert.Equal(new[] { 12, 16 }, ((VectorDataViewType)output.Schema["Alpha"].Type).Dimensions.ToArray());

        int rows = 0;
        // ML.NET disposes each row's images when the cursor moves on: check them in the loop.
        foreach (var row in _ml.Data.CreateEnumerable<ResizedRow>(output, reuseRowObject: false))
        {
            // The luma model's foreground is its input: ConvertToImage gives the resized image's colours back (its
            // alpha bytes are 0 when it scales: MatteImages makes opaque images).
            var image = row.Image!.Pixels;
            var foreground = row.ForegroundImage!.Pixels;
            var grey = row.AlphaImage!.Pixels;
            using var ours = MatteImages.FromAlpha(row.Alpha, 16, 12);
            for (int p = 0; p < 16 * 12; p++)
            {
                for (int c = 0; c < 3; c++) Assert.Equal(image[4 * p + c], foreground[4 * p + c]);
                Assert.InRange(grey[4 * p] - MathF.Round(row.Alpha[p] * 255f), -1f, 1f);
                Assert.Equal((grey[4 * p], (byte)255), (ours.Pixels[4 * p], ours.Pixels[4 * p + 3]));
            }
            rows++;
        }
        Assert.Equal(2, rows);
    }

    public sealed class ResizedRow
    {
        [ImageType(12, 16)] public MLImage? Image { get; set; }
        [ImageType(12, 16)] public MLImage? ForegroundImage { get; set; }
        [ImageType(12, 16)] public MLImage? AlphaImage { get; set; }
        [VectorType(12, 16)] public float[] Alpha { get; set; } = [];
    }

    /// <summary>ExtractPixels output in each layout, as floats or bytes, scaled or not: the same alpha as the image itself.</summary>
    [Theory]
    [InlineData(false, true, 1f / 255, 1f)]          // planar floats scaled into 0..1 by ExtractPixels
    [InlineData(false, true, 1f, 1f / 255)]          // planar floats 0..255 (ExtractPixels' default), scale stated
    [InlineData(true, true, 1f, 1f / 255)]           // interleaved floats
    [InlineData(false, false, 1f, null)]             // planar bytes (scale 1/255 by default)
    [InlineData(true, false, 1f, null)]              // interleaved bytes
    public void ExtractPixels_output_in_each_layout_and_scale_gives_the_image_alpha(bool interleave, bool asFloat, float extractScale, float? pixelScale)
    {
        string a = Png("a", 16, 12, 40, 90);
        var data = Files((a, true));
        var load = _ml.Transforms.LoadImages("Raw", null, "Path").Append(_ml.Transforms.ResizeImages("Image", 16, 12, "Raw"));
        var expected = Run(load.Append(_ml.Transforms.ApplyBiVM(new BiVMOptions { ModelPath = _luma, IntraOpThreads = 1 })), data)[0].Alpha;

        var pixels = load.Append(_ml.Transforms.ExtractPixels("Pixels", "Image", interleavePixelColors: interleave, scaleImage: extractScale, outputAsFloatArray: asFloat));
        var matted = Run(pixels.Append(_ml.Transforms.ApplyBiVM(new BiVMOptions { ModelPath = _luma, InputColumnName = "Pixels", PixelScale = pixelScale, IntraOpThreads = 1 })), data)[0];
        Assert.Equal(expected, matted.Alpha, new Tolerance(1e-5f));
        Assert.Equal(3 * 16 * 12, matted.Foreground.Length);
    }

    [Fact]
    public void ExtractPixels_values_outside_0_1_after_the_stated_scale_fail_naming_the_column_and_the_option()
    {
        var data = Files((Png("a", 8, 6, 40, 90), true));
        var pipeline = _ml.Transforms.LoadImages("Raw", null, "Path").Append(_ml.Transforms.ResizeImages("Image", 8, 6, "Raw"))
            .Append(_ml.Transforms.ExtractPixels("Pixels", "Image"))   // 0..255 floats
            .Append(_ml.Transforms.ApplyBiVM(new BiVMOptions { ModelPath = _luma, InputColumnName = "Pixels" }));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Run(pipeline, data));
        Assert.Contains("column 'Pixels' times PixelScale 1 gives values in [", e.Message);
        Assert.Contains("BiVMOptions.PixelScale", e.Message);
    }

    [Fact]
    public void ExtractPixels_dimensions_that_contradict_the_options_fail_at_Fit()
    {
        var data = Files((Png("a", 8, 6, 40, 90), true));
        var pipeline = _ml.Transforms.LoadImages("Raw", null, "Path").Append(_ml.Transforms.ResizeImages("Image", 8, 6, "Raw"))
            .Append(_ml.Transforms.ExtractPixels("Pixels", "Image", scaleImage: 1f / 255))
            .Append(_ml.Transforms.ApplyBiVM(new BiVMOptions { ModelPath = _luma, InputColumnName = "Pixels", Width = 6, Height = 8 }));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => pipeline.Fit(data));
        Assert.Contains("column 'Pixels' holds 8×6 frames", e.Message);
    }

    [Fact]
    public void Prediction_engine_over_single_images_carries_the_state_across_Predict_calls()
    {
        VariableSizeImages.Register();
        var data = Files((Png("a", 8, 6, 40, 90), true));
        var model = _ml.Transforms.LoadImages("Image", null, "Path")
            .Append(_ml.Transforms.ApplyBiVM(new BiVMOptions { ModelPath = _counter, NewStreamColumnName = "First", IntraOpThreads = 1 })).Fit(data);
        using var engine = _ml.Model.CreatePredictionEngine<ImagePath, Matte>(model);
        string a = Png("b", 8, 6, 1, 2);
        var alphas = new[] { false, false, false, true, false }.Select(first => engine.Predict(new ImagePath { Path = a, First = first }).Alpha[0]).ToArray();
        Assert.Equal(new float[] { 0, 1, 2, 0, 1 }, alphas);
    }

    [Fact]
    public void A_saved_LoadImages_pipeline_loads_and_gives_the_same_mattes()
    {
        string a = Png("a", 8, 6, 40, 90), b = Png("b", 10, 6, 10, 200);
        var data = Files((a, true), (b, false), (b, false));
        var pipeline = _ml.Transforms.LoadImages("Image", null, "Path")
            .Append(_ml.Transforms.ApplyBiVM(new BiVMOptions { ModelPath = _counter, IntraOpThreads = 1 }));
        string zip = Path.Combine(_dir, "images.zip");
        Matte[] before;
        using (var model = pipeline.Fit(data))
        {
            before = _ml.Data.CreateEnumerable<Matte>(model.Transform(data), reuseRowObject: false).ToArray();
            _ml.Model.Save(model, data.Schema, zip);
        }
        var fresh = new MLContext(seed: 2);
        fresh.ComponentCatalog.RegisterAssembly(typeof(BiVMTransformer).Assembly);
        // Plain Model.Load runs the saved chain; LoadWithBiVM gives the BiVM transform back: the same mattes from both.
        var plain = fresh.Model.Load(zip, out _);
        var rebound = fresh.Model.LoadWithBiVM(zip, out _);
        Assert.Single(Assert.IsType<TransformerChain<ITransformer>>(rebound).OfType<BiVMTransformer>());
        foreach (var loaded in new[] { plain, rebound })
            for (int pass = 0; pass < 2; pass++)   // each pass is a new stream, also in the loaded chain
            {
                var after = fresh.Data.CreateEnumerable<Matte>(loaded.Transform(data), reuseRowObject: false).ToArray();
                Assert.Equal(new float[] { 0, 0, 1 }, after.Select(m => m.Alpha[0]).ToArray());
                for (int i = 0; i < before.Length; i++) Assert.Equal(before[i].Foreground, after[i].Foreground);
            }
        ((IDisposable)rebound).Dispose();
    }

    private sealed class Tolerance(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => MathF.Abs(x - y) <= tolerance;
        public int GetHashCode(float obj) => 0;
    }
}
