using System.Numerics.Tensors;
using BiVM.Contracts;
using Microsoft.ML.OnnxRuntime;

namespace BiVM.Estimators.Video;

/// <summary>
/// Mattes one video stream frame by frame, carrying the model's recurrent state (r1..r4) from
/// each frame to the next. The state resets by itself when the frame size changes, and on
/// <see cref="Reset"/> (call it when a new stream starts).
/// </summary>
/// <remarks>
/// Thread-safety: one instance is one stream, so calls on it must not overlap; an overlapping
/// call throws <see cref="InvalidOperationException"/> instead of mixing two streams' state.
/// Separate instances may run concurrently, also over a shared <see cref="MattingSession"/>.
/// <para>
/// The recurrent state never leaves ONNX Runtime: each frame's r1o..r4o are ORT-allocated values that
/// are bound as the next frame's r1i..r4i (an <see cref="OrtIoBinding"/>), and the frame's alpha and
/// foreground are written by ONNX Runtime straight into the caller's buffers (<see cref="ProcessInto"/>).
/// </para>
/// </remarks>
public sealed class VideoMatter : IDisposable
{
    private static readonly float[] FirstFrameState = [0f];   // RVM's convention: a [1,1,1,1] zero tensor
    private static readonly long[] FirstFrameStateShape = [1, 1, 1, 1];

    private readonly MattingSession _session;
    private readonly bool _ownsSession;
    private readonly float? _downsampleRatio;
    private readonly RunOptions _runOptions = new();
    private readonly OrtIoBinding _binding;
    private readonly float[] _ratio = new float[1];
    private IDisposableReadOnlyCollection<OrtValue>? _previous;   // last frame's bound outputs: fgr, pha, r1o..r4o
    private int _width, _height;
    private int _busy;

    /// <summary>A stream over its own session, loaded from the options' model (the default model when null).</summary>
    public VideoMatter(VideoMatterOptions? options = null)
        : this(new MattingSession(options ?? new VideoMatterOptions()), ownsSession: true, (options ?? new VideoMatterOptions()).DownsampleRatio)
    {
    }

    /// <summary>A stream over a session shared with other streams; the session stays the caller's to dispose.</summary>
    public VideoMatter(MattingSession session, float? downsampleRatio = null)
        : this(session, ownsSession: false, downsampleRatio)
    {
    }

    private VideoMatter(MattingSession session, bool ownsSession, float? downsampleRatio)
    {
        if (downsampleRatio is { } r && !(r > 0f && r <= 1f))
            throw new ArgumentOutOfRangeException(nameof(downsampleRatio), r, "downsample ratio must be in (0, 1]");
        _session = session;
        _ownsSession = ownsSession;
        _downsampleRatio = downsampleRatio;
        _binding = session.Session.CreateIoBinding();
    }

    /// <summary>Frames processed since the state was last reset.</summary>
    public int FramesSinceReset { get; private set; }

    /// <summary>The model file, or <see cref="DefaultModel.Name"/>.</summary>
    public string ModelName => _session.ModelName;

    /// <summary>Forgets the recurrent state: the next frame starts a new stream.</summary>
    public void Reset()
    {
        _previous?.Dispose();
        _previous = null;
        FramesSinceReset = 0;
    }

    /// <summary>Mattes a frame given as planar RGB floats in 0..1 (3·H·W values: R plane, G plane, B plane).</summary>
    public MatteFrame Process(ReadOnlySpan<float> rgbPlanar, int width, int height)
    {
        CheckSize(width, height, rgbPlanar.Length, 3L * width * height, "planar RGB floats");
        var input = rgbPlanar[..(3 * width * height)].ToArray();
        var frame = new MatteFrame(width, height, new float[width * height], new float[3 * width * height]);
        ProcessInto(input, width, height, frame.Alpha, frame.Foreground);
        return frame;
    }

    /// <summary>
    /// Mattes a frame held in the caller's memory and writes the results into the caller's memory: nothing of a
    /// frame's size is allocated, so a loop over a few reused buffers runs without garbage. The buffers must not
    /// change while the call runs.
    /// </summary>
    /// <param name="rgbPlanar">3·H·W planar RGB values in 0..1 (R plane, G plane, B plane).</param>
    /// <param name="width">Frame width in pixels.</param>
    /// <param name="height">Frame height in pixels.</param>
    /// <param name="alpha">Receives H·W alpha values in 0..1, row-major.</param>
    /// <param name="foreground">Receives 3·H·W foreground values in 0..1, planar RGB.</param>
    public void ProcessInto(Memory<float> rgbPlanar, int width, int height, Memory<float> alpha, Memory<float> foreground)
    {
        CheckSize(width, height, rgbPlanar.Length, 3L * width * height, "planar RGB floats");
        CheckSize(width, height, alpha.Length, (long)width * height, "alpha floats");
        CheckSize(width, height, foreground.Length, 3L * width * height, "foreground floats");
        int n = width * height;
        var pixels = rgbPlanar.Span[..(3 * n)];
        float min = TensorPrimitives.Min(pixels), max = TensorPrimitives.Max(pixels);
        if (!(min >= 0f && max <= 1f))   // also catches NaN
            throw new ArgumentOutOfRangeException(nameof(rgbPlanar), $"frame values must be in 0..1, found range [{min}, {max}]");
        Run(rgbPlanar[..(3 * n)], alpha[..n], foreground[..(3 * n)], width, height);
    }

    /// <summary>
    /// <see cref="Process"/> for planar values the caller has already range-checked (the ML.NET transform, which
    /// checks while converting): no second pass over the values and no copy. The array is read during this call only,
    /// so the caller may refill it for the next frame.
    /// </summary>
    internal MatteFrame ProcessChecked(float[] rgbPlanar, int width, int height)
    {
        CheckSize(width, height, rgbPlanar.Length, 3L * width * height, "planar RGB floats");
        if (rgbPlanar.Length != 3L * width * height)
            throw new ArgumentException($"a {width}×{height} frame needs exactly {3L * width * height} planar RGB floats, got {rgbPlanar.Length}");
        int n = width * height;
        var frame = new MatteFrame(width, height, new float[n], new float[3 * n]);
        Run(rgbPlanar, frame.Alpha, frame.Foreground, width, height);
        return frame;
    }

    /// <summary>Mattes a frame given as interleaved 8-bit RGB (R, G, B per pixel), rows <paramref name="stride"/> bytes apart (0: 3·W).</summary>
    public MatteFrame ProcessRgb24(ReadOnlySpan<byte> rgb, int width, int height, int stride = 0)
    {
        if (stride == 0) stride = 3 * width;
        if (stride < 3 * width) throw new ArgumentOutOfRangeException(nameof(stride), stride, $"stride must be at least 3·width = {3 * width}");
        CheckSize(width, height, rgb.Length, (long)stride * (height - 1) + 3L * width, "RGB24 bytes");
        int n = width * height;
        var planar = new float[3 * n];
        const float scale = 1f / 255f;
        for (int y = 0; y < height; y++)
        {
            var row = rgb.Slice(y * stride, 3 * width);
            int o = y * width;
            for (int x = 0; x < width; x++)
            {
                planar[o + x] = row[3 * x] * scale;
                planar[n + o + x] = row[3 * x + 1] * scale;
                planar[2 * n + o + x] = row[3 * x + 2] * scale;
            }
        }
        var frame = new MatteFrame(width, height, new float[n], new float[3 * n]);
        Run(planar, frame.Alpha, frame.Foreground, width, height);
        return frame;
    }

    private static void CheckSize(int width, int height, long actual, long expected, string what)
    {
        if (width <= 0 || height <= 0)
            throw new ArgumentOutOfRangeException(nameof(width), $"frame size must be positive, got {width}×{height}");
        if (actual < expected)
            throw new ArgumentException($"a {width}×{height} frame needs {expected} {what}, got {actual}");
    }

    private void Run(Memory<float> planar, Memory<float> alpha, Memory<float> foreground, int width, int height)
    {
        if (Interlocked.Exchange(ref _busy, 1) == 1)
            throw new InvalidOperationException("VideoMatter is one stream: calls must not overlap (use one VideoMatter per stream)");
        try
        {
            if (width != _width || height != _height)
            {
                Reset();
                _width = width;
                _height = height;
            }
            _ratio[0] = _downsampleRatio ?? MattingContract.DefaultDownsampleRatio(width, height);
            // Values made here wrap memory (ours or the caller's) and are freed after the run; the state inputs are
            // the previous run's ORT-owned outputs, freed when this run's outputs replace them.
            var owned = new List<OrtValue>(8);
            OrtValue Own(OrtValue value) { owned.Add(value); return value; }
            IDisposableReadOnlyCollection<OrtValue>? outputs = null;
            try
            {
                _binding.BindInput(MattingContract.Source, Own(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, planar, [1, 3, height, width])));
                for (int k = 0; k < MattingContract.StateInputs.Count; k++)
                    _binding.BindInput(MattingContract.StateInputs[k], _previous is null
                        ? Own(OrtValue.CreateTensorValueFromMemory(FirstFrameState, FirstFrameStateShape))
                        : _previous[2 + k]);
                _binding.BindInput(MattingContract.DownsampleRatio, Own(OrtValue.CreateTensorValueFromMemory(_ratio, [1])));
                // fgr and pha land in the caller's buffers; a model whose outputs have another shape fails in Run.
                _binding.BindOutput(MattingContract.Foreground, Own(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, foreground, [1, 3, height, width])));
                _binding.BindOutput(MattingContract.Alpha, Own(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, alpha, [1, 1, height, width])));
                foreach (var state in MattingContract.StateOutputs) _binding.BindOutputToDevice(state, OrtMemoryInfo.DefaultInstance);
                try
                {
                    _session.Session.RunWithBinding(_runOptions, _binding);
                }
                catch (OnnxRuntimeException e) when (e.Message.Contains("Shape mismatch", StringComparison.OrdinalIgnoreCase))
                {
                    throw new UserInputException($"{_session.ModelName}: outputs '{MattingContract.Foreground}' and '{MattingContract.Alpha}' must have the frame's shape [1, 3, {height}, {width}] and [1, 1, {height}, {width}]: {e.Message}", e);
                }
                outputs = _binding.GetOutputValues();   // in bind order: fgr, pha, r1o..r4o
                _previous?.Dispose();
                _previous = outputs;
                outputs = null;
                FramesSinceReset++;
            }
            finally
            {
                outputs?.Dispose();
                // The binding holds raw pointers into memory pinned by the values below: unbind before unpinning.
                _binding.ClearBoundInputs();
                _binding.ClearBoundOutputs();
                foreach (var value in owned) value.Dispose();
            }
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>A copy of state k (r{k+1}o of the last frame); empty before the first frame. For tests.</summary>
    internal float[] DebugState(int k) => _previous is null ? [] : _previous[2 + k].GetTensorDataAsSpan<float>().ToArray();

    /// <summary>Releases the stream's state and run options, and the session if this matter made it.</summary>
    public void Dispose()
    {
        Reset();
        _binding.Dispose();
        _runOptions.Dispose();
        if (_ownsSession) _session.Dispose();
    }
}
