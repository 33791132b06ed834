using BiVM.Contracts;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.Estimators.MLNet;
using BiVM.Estimators.Video;
using BiVM.Export;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Google.Protobuf;
using Onnx;

namespace BiVM.Cli.Tests;

/// <summary>
/// <c>bivm export --still</c> and what it is for: ML.NET's own <c>ApplyOnnxModel</c> over a still file, with the
/// ai.bivm ops registered by <c>UseBiVMOps</c>, gives what <c>ApplyBiVM</c> gives the first frame of a video.
/// </summary>
public sealed class ExportStillTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bivm-still-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Export_still_writes_a_file_with_only_src_in_and_fgr_pha_out()
    {
        string path = Path.Combine(_dir, "still.onnx");
        var (code, stdout, stderr) = CliRunner.Run("export", "--family", "bivm", "--random-seed", "3", "--still", "--out", path);
        Assert.True(code == 0, stderr);
        Assert.Contains("still (src → fgr, pha; no recurrent state)", stdout);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        using var session = new InferenceSession(path, options);
        Assert.Equal([MattingContract.Source], session.InputMetadata.Keys);
        Assert.Equal([MattingContract.Foreground, MattingContract.Alpha], session.OutputMetadata.Keys);
        Assert.StartsWith("true", session.ModelMetadata.CustomMetadataMap["still"]);
    }

    [Fact]
    public void Still_conversion_refuses_a_model_without_the_contract()
    {
        var model = new ModelProto { Graph = new GraphProto() };
        var e = Assert.Throws<ArgumentException>(() => StillModel.From(model));
        Assert.Contains("not a matting model: it has no 'src'", e.Message);
    }

    public sealed class ImagePath
    {
        public string Path { get; set; } = "";
    }

    public sealed class Both
    {
        [VectorType] public float[] Alpha { get; set; } = [];
        [ColumnName("pha")] [VectorType] public float[] Pha { get; set; } = [];
        [ColumnName("fgr")] [VectorType] public float[] Fgr { get; set; } = [];
        [VectorType] public float[] Foreground { get; set; } = [];
    }

    /// <summary>
    /// The shipped BiVM, made still, through LoadImages → ResizeImages → ExtractPixels → ApplyOnnxModel, against
    /// ApplyBiVM on the same pixels: a first frame gets the same matte (the still graph is the streaming one with the
    /// state fixed to the first frame's and the ratio computed as VideoMatter's default, so the only differences are
    /// ONNX Runtime's float summation order after constant folding).
    /// </summary>
    [Theory]
    [InlineData(128, 72)]    // ratio 1: the guided filter is skipped
    [InlineData(640, 360)]   // ratio 0.8: the network runs smaller and the guided filter refines
    public void ApplyOnnxModel_over_the_still_shipped_model_matches_ApplyBiVM_on_a_first_frame(int width, int height)
    {
        Assert.True(DefaultModel.IsAvailable, "this build ships no models/bivm.onnx");
        string still = Path.Combine(_dir, "bivm-still.onnx");
        File.WriteAllBytes(still, StillModel.From(ModelProto.Parser.ParseFrom(DefaultModel.Load())).ToByteArray());
        string image = Path.Combine(_dir, "frame.png");
        using (var card = TestCard(width, height)) card.Save(image);

        var ml = new MLContext(seed: 1).UseBiVMOps(intraOpThreads: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { new ImagePath { Path = image } });
        var pipeline = ml.Transforms.LoadImages("Raw", null, "Path")
            .Append(ml.Transforms.ResizeImages("Image", width, height, "Raw"))
            .Append(ml.Transforms.ExtractPixels("src", "Image", scaleImage: 1f / 255))
            .Append(ml.Transforms.ApplyOnnxModel(["fgr", "pha"], ["src"], still, new Dictionary<string, int[]> { ["src"] = [1, 3, height, width] }, gpuDeviceId: null, fallbackToCpu: false))
            .Append(ml.Transforms.ApplyBiVM(new BiVMOptions { InputColumnName = "Image", IntraOpThreads = 1 }));
        var model = pipeline.Fit(data);
        var row = ml.Data.CreateEnumerable<Both>(model.Transform(data), reuseRowObject: false).Single();
        (model as IDisposable)?.Dispose();

        Assert.Equal(width * height, row.Pha.Length);
        Assert.True(row.Alpha.Max() - row.Alpha.Min() > 0.05f, "the test card must give a matte that is not flat");
        Assert.InRange(MaxAbsDiff(row.Alpha, row.Pha), 0f, 1e-4f);
        Assert.InRange(MaxAbsDiff(row.Foreground, row.Fgr), 0f, 1e-4f);
    }

    private static float MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        return a.Zip(b, (x, y) => MathF.Abs(x - y)).Max();
    }

    /// <summary>A figure-like blob over a textured background, so the network has something to separate.</summary>
    private static MLImage TestCard(int width, int height)
    {
        var bgra = new byte[4 * width * height];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int i = 4 * (y * width + x);
                float dx = (x - width / 2f) / (width / 6f), dy = (y - height / 2f) / (height / 2.5f);
                bool figure = dx * dx + dy * dy < 1;
                bgra[i] = (byte)(figure ? 60 : 120 + 60 * Math.Sin(x * 0.3));
                bgra[i + 1] = (byte)(figure ? 90 : 160 + 40 * Math.Cos(y * 0.2));
                bgra[i + 2] = (byte)(figure ? 200 : 100);
                bgra[i + 3] = 255;
            }
        return MLImage.CreateFromPixels(width, height, MLPixelFormat.Bgra32, bgra);
    }
}
