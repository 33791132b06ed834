using BiVM.Contracts;
using BiVM.Estimators.MLNet;
using BiVM.Tests.Shared;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace BiVM.Estimators.Tests;

/// <summary>
/// The ML.NET transform with the frame-counter test model, whose alpha equals the number of frames
/// the stream has seen: order, state carrying and resets are visible in the output values.
/// </summary>
public sealed class ApplyBiVMTests : IDisposable
{
    private const int W = 6, H = 4;
    private readonly TestModelFolder _models = new();
    private string _dir => _models.Dir;
    private string _counter => _models.Counter;
    private string _luma => _models.Luma;

    public void Dispose() => _models.Dispose();

    public sealed class RawFrame
    {
        [VectorType(3 * W * H)] public byte[] Pixels { get; set; } = [];
        public bool Start { get; set; }
    }

    public sealed class Matte
    {
        [VectorType] public float[] Alpha { get; set; } = [];
        [VectorType] public float[] Foreground { get; set; } = [];
    }

    public sealed class ImageFrame
    {
        public MLImage? Image { get; set; }
    }

    private static RawFrame Raw(byte value, bool start = false) => new() { Pixels = Enumerable.Repeat(value, 3 * W * H).ToArray(), Start = start };

    private static BiVMOptions RawOptions(string model, string? newStream = null) =>
        new() { ModelPath = model, InputColumnName = nameof(RawFrame.Pixels), Width = W, Height = H, NewStreamColumnName = newStream, IntraOpThreads = 1 };

    private static float[] FirstAlphas(MLContext ml, IDataView data) =>
        ml.Data.CreateEnumerable<Matte>(data, reuseRowObject: false).Select(m => m.Alpha[0]).ToArray();

    [Fact]
    public void Rows_are_one_stream_in_order_and_a_new_stream_column_resets_the_state()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { Raw(1, true), Raw(2), Raw(3), Raw(4, true), Raw(5) });
        var plain = ml.Transforms.ApplyBiVM(RawOptions(_counter)).Fit(data);
        Assert.Equal(new float[] { 0, 1, 2, 3, 4 }, FirstAlphas(ml, plain.Transform(data)));
        // A second pass is a new cursor: a new stream.
        Assert.Equal(new float[] { 0, 1, 2, 3, 4 }, FirstAlphas(ml, plain.Transform(data)));

        var withStarts = ml.Transforms.ApplyBiVM(RawOptions(_counter, nameof(RawFrame.Start))).Fit(data);
        Assert.Equal(new float[] { 0, 1, 2, 0, 1 }, FirstAlphas(ml, withStarts.Transform(data)));
    }

    public sealed class LargeFrame
    {
        [VectorType(3 * 64 * 48)] public byte[] Pixels { get; set; } = [];
    }

    [Fact]
    public void A_cursor_mattes_each_row_into_buffers_of_its_stream_and_copies_it_out()
    {
        const int width = 64, height = 48, n = width * height;
        var ml = new MLContext(seed: 1);
        var frames = Enumerable.Range(0, 6).Select(f => new LargeFrame { Pixels = Enumerable.Range(0, 3 * n).Select(i => (byte)((i * 7 + f * 40) % 256)).ToArray() }).ToArray();
        var data = ml.Data.LoadFromEnumerable(frames);
        var model = ml.Transforms.ApplyBiVM(new BiVMOptions { ModelPath = _luma, InputColumnName = nameof(LargeFrame.Pixels), Width = width, Height = height, IntraOpThreads = 1 }).Fit(data);
        var transformed = model.Transform(data);
        using var matter = new Video.VideoMatter(new Video.VideoMatterOptions { ModelPath = _luma, IntraOpThreads = 1 });
        using var cursor = transformed.GetRowCursor(transformed.Schema);
        var alpha = cursor.GetGetter<VBuffer<float>>(transformed.Schema["Alpha"]);
        var value = default(VBuffer<float>);
        for (int row = 0; cursor.MoveNext(); row++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            alpha(ref value);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            // Every row its own frame's matte, as the frame-by-frame API gives it...
            Assert.Equal(matter.ProcessRgb24(frames[row].Pixels, width, height).Alpha, value.DenseValues().ToArray());
            // ...and after the first, no array of the frame's size: the outputs (16 bytes a pixel) go into the
            // stream's own buffers and the row's into the caller's VBuffer.
            if (row > 0) Assert.True(allocated < 4L * n, $"row {row} allocated {allocated} bytes for a {width}×{height} frame");
        }
    }

    [Fact]
    public void MLImage_frames_are_matted_and_a_size_change_resets_the_state()
    {
        var ml = new MLContext(seed: 1);
        VariableSizeImages.Register();
        MLImage Image(int w, int h) => MLImage.CreateFromPixels(w, h, MLPixelFormat.Bgra32, Enumerable.Repeat((byte)255, 4 * w * h).ToArray());
        var data = ml.Data.LoadFromEnumerable(new[] { new ImageFrame { Image = Image(8, 6) }, new ImageFrame { Image = Image(8, 6) }, new ImageFrame { Image = Image(10, 6) }, new ImageFrame { Image = Image(10, 6) } });
        var model = ml.Transforms.ApplyBiVM(new BiVMOptions { ModelPath = _counter, IntraOpThreads = 1 }).Fit(data);
        var rows = ml.Data.CreateEnumerable<Matte>(model.Transform(data), reuseRowObject: false).ToArray();
        Assert.Equal(new float[] { 0, 1, 0, 1 }, rows.Select(r => r.Alpha[0]).ToArray());
        Assert.Equal(new[] { 48, 48, 60, 60 }, rows.Select(r => r.Alpha.Length).ToArray());
        Assert.All(rows[0].Foreground, v => Assert.Equal(1f, v));   // opaque white
    }

    [Fact]
    public void Prediction_engine_carries_the_state_between_calls_and_agrees_with_transform()
    {
        var ml = new MLContext(seed: 1);
        var frames = new[] { Raw(10), Raw(120), Raw(250) };
        var data = ml.Data.LoadFromEnumerable(frames);
        var model = ml.Transforms.ApplyBiVM(RawOptions(_luma)).Fit(data);
        var batch = ml.Data.CreateEnumerable<Matte>(model.Transform(data), reuseRowObject: false).ToArray();
        var engine = ml.Model.CreatePredictionEngine<RawFrame, Matte>(model);
        for (int i = 0; i < frames.Length; i++)
        {
            var single = engine.Predict(frames[i]);
            Assert.Equal(batch[i].Alpha, single.Alpha);
            Assert.Equal(batch[i].Foreground, single.Foreground);
        }
        var counter = ml.Transforms.ApplyBiVM(RawOptions(_counter)).Fit(data);
        var counting = ml.Model.CreatePredictionEngine<RawFrame, Matte>(counter);
        Assert.Equal(new float[] { 0, 1, 2 }, frames.Select(f => counting.Predict(f).Alpha[0]).ToArray());
    }

    [Fact]
    public void Saved_and_loaded_pipeline_gives_identical_outputs_without_the_model_file()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { Raw(30), Raw(60), Raw(90) });
        string copy = Path.Combine(_dir, "copy.onnx");
        File.Copy(_luma, copy);
        var model = ml.Transforms.ApplyBiVM(RawOptions(copy)).Fit(data);
        var before = ml.Data.CreateEnumerable<Matte>(model.Transform(data), reuseRowObject: false).ToArray();
        string zip = Path.Combine(_dir, "pipeline.zip");
        ml.Model.Save(model, data.Schema, zip);
        File.Delete(copy);   // the model bytes live in the saved pipeline

        var fresh = new MLContext(seed: 2);
        fresh.ComponentCatalog.RegisterAssembly(typeof(BiVMTransformer).Assembly);
        var loaded = fresh.Model.Load(zip, out var schema);
        var after = fresh.Data.CreateEnumerable<Matte>(loaded.Transform(fresh.Data.LoadFromEnumerable(new[] { Raw(30), Raw(60), Raw(90) })), reuseRowObject: false).ToArray();
        Assert.Equal(before.Length, after.Length);
        for (int i = 0; i < before.Length; i++)
        {
            Assert.Equal(before[i].Alpha, after[i].Alpha);
            Assert.Equal(before[i].Foreground, after[i].Foreground);
        }
        Assert.Equal(90f * 1 / 255f, after[2].Alpha[0], 5);
    }

    [Fact]
    public void Wrong_columns_and_models_are_named_in_the_error()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { Raw(1) });
        var e1 = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.ApplyBiVM(RawOptions(_luma) with { InputColumnName = "Nope" }).Fit(data));
        Assert.Contains("Schema mismatch for input column 'Nope': column not found", e1.Message);
        var e2 = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.ApplyBiVM(RawOptions(_luma) with { InputColumnName = nameof(RawFrame.Start) }).Fit(data));
        Assert.Contains("Schema mismatch for input column 'Start': expected an image (LoadImages, ResizeImages) or a vector of Byte or Single (ExtractPixels, raw RGB), got Boolean", e2.Message);
        var e3 = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.ApplyBiVM(RawOptions(_luma) with { Width = W + 1 }).Fit(data));
        Assert.Contains($"column 'Pixels' holds {3 * W * H} values per row, a {W + 1}×{H} RGB frame has {3 * (W + 1) * H}", e3.Message);
        var e4 = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.ApplyBiVM(RawOptions(_luma, newStream: nameof(RawFrame.Pixels))).Fit(data));
        Assert.Contains("Schema mismatch for input column 'Pixels': expected Boolean (the new-stream column)", e4.Message);
        var variable = ml.Data.LoadFromEnumerable(new[] { new VariableBytes { Pixels = new byte[3 * W * H] } });
        var e5 = Assert.Throws<ArgumentException>(() => ml.Transforms.ApplyBiVM(RawOptions(_luma) with { Width = null }).Fit(variable));
        Assert.Contains("column 'Pixels' (Vector<Byte>) holds raw pixels of no stated size: set BiVMOptions.Width and Height", e5.Message);
        string identity = Path.Combine(_dir, "identity.onnx");
        File.WriteAllBytes(identity, ContractTestModels.NotAMattingModel());
        var e6 = Assert.Throws<UserInputException>(() => ml.Transforms.ApplyBiVM(RawOptions(identity)).Fit(data));
        Assert.Contains("identity.onnx: not a BiVM/RVM matting model", e6.Message);
    }

    // SchemaShape.Create is internal to ML.NET: a custom mapping from no columns describes a row class.
    private static SchemaShape ShapeOf<T>(MLContext ml) where T : class, new() =>
        ml.Transforms.CustomMapping<EmptyRow, T>((_, _) => { }, contractName: null).GetOutputSchema(new SchemaShape([]));

    public sealed class EmptyRow;

    public sealed class VariableBytes
    {
        [VectorType] public byte[] Pixels { get; set; } = [];
    }

    [Fact]
    public void Estimator_schema_states_the_outputs_and_checks_the_inputs()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { Raw(1) });
        var shape = ml.Transforms.ApplyBiVM(RawOptions(_luma)).GetOutputSchema(ShapeOf<RawFrame>(ml));
        var alpha = shape.Single(c => c.Name == "Alpha");
        Assert.Equal((SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single), (alpha.Kind, (NumberDataViewType)alpha.ItemType));
        Assert.Equal(SchemaShape.Column.VectorKind.Vector, shape.Single(c => c.Name == "Foreground").Kind);
        Assert.DoesNotContain(shape, c => c.Name.StartsWith("__bivm", StringComparison.Ordinal));
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.ApplyBiVM(RawOptions(_luma) with { InputColumnName = nameof(RawFrame.Start) }).GetOutputSchema(ShapeOf<RawFrame>(ml)));

        var schema = ml.Transforms.ApplyBiVM(RawOptions(_luma)).Fit(data).GetOutputSchema(data.Schema);
        Assert.Equal(new[] { H, W }, ((VectorDataViewType)schema["Alpha"].Type).Dimensions.ToArray());
        Assert.Equal(new[] { 3, H, W }, ((VectorDataViewType)schema["Foreground"].Type).Dimensions.ToArray());
    }
}
