using BiVM.Estimators.Video;
using Microsoft.ML.Transforms;

namespace BiVM.Estimators.MLNet;

/// <summary>The stream's <see cref="VideoMatter"/> and the options it was made with.</summary>
internal sealed class VideoMatterHolder(VideoMatter matter, BlobOptions options)
{
    public VideoMatter Matter { get; } = matter;
    public BlobOptions Options { get; } = options;
}

/// <summary>
/// The contracts ML.NET stores in a saved pipeline. Each factory is found again at load time by its
/// contract name (ML.NET records this assembly's name with it).
/// </summary>
internal static class Contracts
{
    public const string Constants = "BiVM.Constants.v1";
    public const string Image = "BiVM.MatteImage.v1";
    public const string Bytes = "BiVM.MatteRgb24.v1";
    public const string Floats = "BiVM.MattePlanarFloat.v1";

    public static void Constant(NoColumns _, ConstantColumns dst)
    {
        dst.Key = Columns.KeyValue;
        dst.NewStream = false;
    }

    /// <summary>One row: (re)create the stream's matter if needed, honour a stream start, matte, fill the outputs.</summary>
    public static void Matte(byte[] blob, bool newStream, MatterState state, MatteRow dst, Func<VideoMatter, BlobOptions, MatteFrame> run)
    {
        if (state.Holder is null)
        {
            var parsed = ModelBlob.Parse(blob);
            var session = new MattingSession(parsed.Model, parsed.Options.ModelName, parsed.Options.IntraOpThreads);
            state.Holder = new VideoMatterHolder(new VideoMatter(session, parsed.Options.DownsampleRatio), parsed.Options);
        }
        if (newStream) state.Holder.Matter.Reset();
        var frame = run(state.Holder.Matter, state.Holder.Options);
        dst.Alpha = frame.Alpha;
        dst.Foreground = frame.Foreground;
    }

    public static (int Width, int Height) RawSize(BlobOptions options, long length, int channelsTimesBytes, string kind)
    {
        if (options.Width is not { } w || options.Height is not { } h)
            throw new InvalidOperationException($"BiVM transform: a {kind} frame column needs BiVMOptions.Width and Height");
        if (length != (long)channelsTimesBytes * w * h)
            throw new ArgumentException($"BiVM transform: a {w}×{h} {kind} frame has {channelsTimesBytes * w * h} values, the row has {length}");
        return (w, h);
    }
}

[CustomMappingFactoryAttribute(Contracts.Constants)]
public sealed class ConstantsFactory : CustomMappingFactory<NoColumns, ConstantColumns>
{
    public override Action<NoColumns, ConstantColumns> GetMapping() => Contracts.Constant;
}

/// <summary>The mapping shared by the three frame kinds: only reading the frame differs.</summary>
public abstract class MatteFactory<TRow> : StatefulCustomMappingFactory<TRow, MatteRow, MatterState>
    where TRow : class, IFrameRow, new()
{
    private protected abstract MatteFrame Run(TRow row, VideoMatter matter, BlobOptions options);

    public override Action<TRow, MatteRow, MatterState> GetMapping() => (src, dst, state) =>
        Contracts.Matte(src.Model, src.NewStream, state, dst, (matter, options) => Run(src, matter, options));

    public override Action<MatterState> GetStateInitAction() => _ => { };
}

[CustomMappingFactoryAttribute(Contracts.Image)]
public sealed class ImageMatteFactory : MatteFactory<ImageFrameRow>
{
    // A pipeline loaded from disk reaches this factory without ApplyBiVM having run.
    static ImageMatteFactory() => VariableSizeImages.Register();

    private protected override MatteFrame Run(ImageFrameRow row, VideoMatter matter, BlobOptions options)
    {
        var image = row.Frame ?? throw new ArgumentException("BiVM transform: the image column holds no image");
        return matter.Process(ImagePixels.ToPlanarRgb(image), image.Width, image.Height);
    }
}

[CustomMappingFactoryAttribute(Contracts.Bytes)]
public sealed class Rgb24MatteFactory : MatteFactory<ByteFrameRow>
{
    private protected override MatteFrame Run(ByteFrameRow row, VideoMatter matter, BlobOptions options)
    {
        var (w, h) = Contracts.RawSize(options, row.Frame.Length, 3, "RGB byte");
        return matter.ProcessRgb24(row.Frame, w, h);
    }
}

[CustomMappingFactoryAttribute(Contracts.Floats)]
public sealed class PlanarFloatMatteFactory : MatteFactory<FloatFrameRow>
{
    private protected override MatteFrame Run(FloatFrameRow row, VideoMatter matter, BlobOptions options)
    {
        var (w, h) = Contracts.RawSize(options, row.Frame.Length, 3, "planar float");
        return matter.Process(row.Frame, w, h);
    }
}
