using System.Collections.Concurrent;
using BiVM.Contracts;
using BiVM.Estimators.Video;

namespace BiVM.Cli.Matting;

/// <summary>
/// The model stage of the <see cref="MattePipeline"/>: takes decoded slots in order, fills their alpha and foreground,
/// hands them on in order. Frame by frame (<see cref="VideoMatter"/>, the model's layers split over ONNX Runtime's
/// threads) or as a pipeline of the network's stages over several frames (<see cref="PipelinedVideoMatter"/>,
/// <c>bivm matte --pipeline</c>).
/// </summary>
internal abstract class MatteModel : IDisposable
{
    /// <summary>Slots the model holds at once beyond the one it is given (the pipeline's frames in flight).</summary>
    public abstract int SlotsHeld { get; }

    /// <summary>The model file (and its integrity note) for the summary.</summary>
    public abstract string ModelName { get; }

    /// <summary>What the model file's checksum said.</summary>
    public abstract ChecksumStatus Checksum { get; }

    /// <summary>
    /// Mattes every slot <paramref name="input"/> yields until it completes, calling <paramref name="output"/> with
    /// each, in order; returns the seconds it was busy (not waiting for input).
    /// </summary>
    public abstract double Run(BlockingCollection<FrameSlot> input, Action<FrameSlot> output, CancellationToken stop, CancellationToken cancel);

    public abstract void Dispose();

    /// <summary>The model of a <c>bivm matte</c> run: <see cref="Pipelined"/> with <paramref name="pipeline"/>, else <see cref="PerFrame"/>.</summary>
    public static MatteModel Create(VideoMatterOptions options, bool pipeline) =>
        pipeline ? new Pipelined(new PipelinedVideoMatter(options)) : new PerFrame(new VideoMatter(options));

    /// <summary>
    /// The pipeline, or frame by frame where the model cannot be cut into the pipeline's stages (a file whose nodes
    /// do not carry the exporter's names): the automatic choice must not turn a model that runs into an error.
    /// </summary>
    public static MatteModel CreatePipelinedIfPossible(VideoMatterOptions options)
    {
        try
        {
            return new Pipelined(new PipelinedVideoMatter(options));
        }
        catch (UserInputException e) when (e.InnerException is InvalidOperationException)
        {
            return new PerFrame(new VideoMatter(options));
        }
    }

    /// <summary>One frame at a time through <see cref="VideoMatter.ProcessInto"/>, straight into the slot's buffers.</summary>
    public sealed class PerFrame(VideoMatter matter) : MatteModel
    {
        public override int SlotsHeld => 0;
        public override string ModelName => matter.ModelName;
        public override ChecksumStatus Checksum => matter.Checksum;

        public override double Run(BlockingCollection<FrameSlot> input, Action<FrameSlot> output, CancellationToken stop, CancellationToken cancel)
        {
            long busy = 0;
            foreach (var slot in input.GetConsumingEnumerable(stop))
            {
                long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                int w = slot.Input.Width, h = slot.Input.Height;
                slot.Alpha.EnsureSize(w, h);
                slot.Foreground.EnsureSize(w, h);
                matter.ProcessInto(slot.Input.Data, w, h, slot.Alpha.Data, slot.Foreground.Data, cancel);
                busy += System.Diagnostics.Stopwatch.GetTimestamp() - t0;
                output(slot);
            }
            return (double)busy / System.Diagnostics.Stopwatch.Frequency;
        }

        public override void Dispose() => matter.Dispose();
    }

    /// <summary>
    /// The network's stages over several frames (<see cref="PipelinedVideoMatter"/>): one stream per run of frames of
    /// one size (a folder of images of several sizes starts a new stream at each change, from an empty state, as
    /// <see cref="VideoMatter"/> resets at a new size). The slot's frame is copied into the pipeline's buffer and the
    /// results copied back; the slots wait in order between the two.
    /// </summary>
    public sealed class Pipelined(PipelinedVideoMatter pipeline) : MatteModel
    {
        public override int SlotsHeld => pipeline.FramesInFlight;
        public override string ModelName => pipeline.ModelName;
        public override ChecksumStatus Checksum => pipeline.Checksum;

        public override double Run(BlockingCollection<FrameSlot> input, Action<FrameSlot> output, CancellationToken stop, CancellationToken cancel)
        {
            long total = 0, waiting = 0;
            FrameSlot? next = null;
            while (next is not null || input.TryTake(out next, Timeout.Infinite, stop))
            {
                var first = next;
                next = null;
                int w = first.Input.Width, h = first.Input.Height;
                var inFlight = new ConcurrentQueue<FrameSlot>();
                bool started = false;
                long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                pipeline.Run(w, h, buffer =>
                {
                    FrameSlot slot;
                    if (!started) (slot, started) = (first, true);
                    else
                    {
                        long w0 = System.Diagnostics.Stopwatch.GetTimestamp();
                        bool more = input.TryTake(out slot!, Timeout.Infinite, stop);
                        Interlocked.Add(ref waiting, System.Diagnostics.Stopwatch.GetTimestamp() - w0);
                        if (!more) return false;
                        if (slot.Input.Width != w || slot.Input.Height != h)
                        {
                            next = slot;   // the next stream's first frame
                            return false;
                        }
                    }
                    slot.Input.Data.AsSpan().CopyTo(buffer.Span);
                    inFlight.Enqueue(slot);
                    return true;
                }, (alpha, foreground) =>
                {
                    inFlight.TryDequeue(out var slot);
                    slot!.Alpha.EnsureSize(w, h);
                    slot.Foreground.EnsureSize(w, h);
                    alpha.Span.CopyTo(slot.Alpha.Data);
                    foreground.Span.CopyTo(slot.Foreground.Data);
                    output(slot);
                }, cancel);
                total += System.Diagnostics.Stopwatch.GetTimestamp() - t0;
            }
            return (double)(total - waiting) / System.Diagnostics.Stopwatch.Frequency;
        }

        public override void Dispose() => pipeline.Dispose();
    }
}
