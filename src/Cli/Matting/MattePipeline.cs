using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.ExceptionServices;
using BiVM.Estimators.Video;
using OpenCvSharp;

namespace BiVM.Cli.Matting;

/// <summary>Where a matting run's time went: busy seconds of each stage (the stages overlap, so they add up to more than the wall time).</summary>
internal sealed record StageSeconds(double Decode, double Model, double Composite, double Encode)
{
    /// <summary>"decode 1.2 s, model 60.1 s, ..." with per-frame milliseconds.</summary>
    public string Describe(int frames) => string.Join(", ", new[] { ("decode", Decode), ("model", Model), ("composite", Composite), ("encode", Encode) }
        .Select(s => FormattableString.Invariant($"{s.Item1} {s.Item2:F1} s ({1000 * s.Item2 / Math.Max(frames, 1):F1} ms/frame)")));
}

/// <summary>What one frame carries through the pipeline; a fixed number of these circulate, so memory is bounded.</summary>
internal sealed class FrameSlot : IDisposable
{
    public Mat Bgr { get; } = new();
    public PlanarFrame Input { get; } = new(3);
    public PlanarFrame Alpha { get; } = new(1);
    public PlanarFrame Foreground { get; } = new(3);
    public int Index { get; set; }

    public void Dispose()
    {
        Bgr.Dispose();
        Input.Dispose();
        Alpha.Dispose();
        Foreground.Dispose();
    }
}

/// <summary>
/// Decoding, inference and writing on three threads joined by bounded queues. A fixed pool of
/// <see cref="Slots"/> frame slots, plus those the model holds (<see cref="MatteModel.SlotsHeld"/>), circulates
/// decode → model → write → decode: when the writer (or the encoder or reader behind it) is slow, the decoder finds no
/// free slot and waits, so no more frames than that pool are ever in memory, however slow the consumer. The model
/// thread only runs the model (with <c>--pipeline</c>, its workers beside it); conversions happen on the other two. The first failure in any stage stops the others and is rethrown here.
/// </summary>
internal sealed class MattePipeline
{
    /// <summary>Frames in flight beside those the model holds (<see cref="MatteModel.SlotsHeld"/>): one being decoded, one in the model, one being written.</summary>
    public const int Slots = 3;

    /// <summary>What the writer does with a matted frame (on the writer thread): composite, convert, write.</summary>
    public delegate void WriteFrame(FrameSlot slot);

    /// <summary>Runs the whole input; returns the number of frames written and the busy seconds of decoding and of the model.</summary>
    /// <param name="afterFrame">Called on the writer thread after each frame with the frames done so far.</param>
    public static (int Frames, double DecodeSeconds, double ModelSeconds) Run(FrameSource source, MatteModel matter, int? maxFrames, WriteFrame write,
        Action<int>? afterFrame, CancellationToken cancel)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        int count = Slots + matter.SlotsHeld;
        var free = new BlockingCollection<FrameSlot>(count);
        var toModel = new BlockingCollection<FrameSlot>(count);
        var toWrite = new BlockingCollection<FrameSlot>(count);
        var slots = Enumerable.Range(0, count).Select(_ => new FrameSlot()).ToArray();
        foreach (var slot in slots) free.Add(slot);
        ExceptionDispatchInfo? failure = null, userCancel = null;
        void Fail(Exception e)
        {
            // The user's cancellation as the model thread saw it says where the work stopped (e.g. inside an ONNX
            // Runtime run); it is what the caller rethrows. Other cancellations are consequences, not causes.
            if (e is OperationCanceledException oce && oce.CancellationToken == cancel)
                Interlocked.CompareExchange(ref userCancel, ExceptionDispatchInfo.Capture(e), null);
            if (e is OperationCanceledException && stop.IsCancellationRequested) return;
            Interlocked.CompareExchange(ref failure, ExceptionDispatchInfo.Capture(e), null);
            stop.Cancel();
        }
        long decodeTicks = 0;
        double modelSeconds = 0;
        int written = 0;

        var decoder = new Thread(() =>
        {
            using var converter = new FrameConverter();
            try
            {
                for (int index = 0; maxFrames is null || index < maxFrames; index++)
                {
                    var slot = free.Take(stop.Token);
                    long t0 = Stopwatch.GetTimestamp();
                    if (!source.Read(slot.Bgr)) break;
                    converter.ToPlanar(slot.Bgr, slot.Input);
                    slot.Index = index;
                    decodeTicks += Stopwatch.GetTimestamp() - t0;
                    toModel.Add(slot, stop.Token);
                }
            }
            catch (Exception e) { Fail(e); }
            finally { toModel.CompleteAdding(); }
        }) { Name = "bivm decode", IsBackground = true };

        var model = new Thread(() =>
        {
            try
            {
                modelSeconds = matter.Run(toModel, slot => toWrite.Add(slot, stop.Token), stop.Token, cancel);
            }
            catch (Exception e) { Fail(e); }
            finally { toWrite.CompleteAdding(); }
        }) { Name = "bivm model", IsBackground = true };

        decoder.Start();
        model.Start();
        try
        {
            foreach (var slot in toWrite.GetConsumingEnumerable(stop.Token))
            {
                write(slot);
                written++;
                afterFrame?.Invoke(written);
                free.Add(slot, stop.Token);
            }
        }
        catch (Exception e) { Fail(e); }
        finally
        {
            stop.Cancel();   // no-op after a normal end: both threads have finished their loops
            decoder.Join();
            model.Join();
            foreach (var slot in slots) slot.Dispose();
        }
        // Ctrl-C first: it also reaches an ffmpeg child (same process group), whose broken pipe is then no error of its own.
        if (cancel.IsCancellationRequested) userCancel?.Throw();
        cancel.ThrowIfCancellationRequested();
        failure?.Throw();
        return (written, Seconds(decodeTicks), modelSeconds);
    }

    private static double Seconds(long ticks) => (double)ticks / Stopwatch.Frequency;
}
