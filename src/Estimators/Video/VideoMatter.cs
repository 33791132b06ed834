using System.Globalization;
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
    private float[] _frameBuffer = [];

    /// <summary>A stream over its own session, loaded from the options' model (the default model when null).</summary>
    public VideoMatter(VideoMatterOptions? options = null)
        : this(new MattingSession(options ?? new VideoMatterOptions()), ownsSession: true, (options ?? new VideoMatterOptions()).DownsampleRatio)
    {
        MaxFramePixels = (options ?? new VideoMatterOptions()).MaxFramePixels;
        CheckInputRange = (options ?? new VideoMatterOptions()).CheckInputRange;
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

    /// <summary>
    /// The largest frame (width·height) this stream accepts; a larger one is refused before any memory is taken for
    /// it (<see cref="VideoMatterOptions.DefaultMaxFramePixels"/> unless set).
    /// </summary>
    public long MaxFramePixels { get; init; } = VideoMatterOptions.DefaultMaxFramePixels;

    /// <summary>Whether <see cref="ProcessInto"/> checks the frame's values are in 0..1 (<see cref="VideoMatterOptions.CheckInputRange"/>).</summary>
    public bool CheckInputRange { get; init; } = true;

    /// <summary>Frames processed since the state was last reset.</summary>
    public int FramesSinceReset { get; private set; }

    /// <summary>The model file, or <see cref="DefaultModel.Name"/>.</summary>
    public string ModelName => _session.ModelName;

    /// <summary>What the model file's integrity checksum said when it was loaded (<see cref="MattingSession.Checksum"/>).</summary>
    public ChecksumStatus Checksum => _session.Checksum;

    /// <summary>Forgets the recurrent state: the next frame starts a new stream.</summary>
    public void Reset()
    {
        _previous?.Dispose();
        _previous = null;
        FramesSinceReset = 0;
    }

    /// <summary>Mattes a frame given as planar RGB floats in 0..1 (3·H·W values: R plane, G plane, B plane).</summary>
    /// <remarks>
    /// The frame is copied into a buffer the stream reuses, and the alpha and foreground returned are new arrays each
    /// call: their pages are faulted in and collected frame after frame, which at 512×288 took about as long as the
    /// model (24 against 12.5 ms a frame on a 2-core Zen 5 host). For video, <see cref="ProcessInto"/> into buffers kept
    /// from frame to frame does without both.
    /// </remarks>
    /// <param name="rgbPlanar">The frame.</param>
    /// <param name="width">Frame width in pixels.</param>
    /// <param name="height">Frame height in pixels.</param>
    /// <param name="cancel">Stops the frame: checked before it starts, and while ONNX Runtime runs it, the run is
    /// told to terminate (<see cref="RunOptions.Terminate"/>), so a long frame stops at its next node instead of
    /// finishing. Throws <see cref="OperationCanceledException"/>; the recurrent state stays the previous frame's (a
    /// frame of a new size resets it first, as always).</param>
    public MatteFrame Process(ReadOnlySpan<float> rgbPlanar, int width, int height, CancellationToken cancel = default)
    {
        CheckSize(width, height, rgbPlanar.Length, 3L * width * height, "planar RGB floats");
        CheckFrame(width, height);
        int n = width * height;
        var frame = new MatteFrame(width, height, new float[n], new float[3 * n]);
        Enter();
        try
        {
            var input = FrameBuffer(3 * n);
            rgbPlanar[..(3 * n)].CopyTo(input);
            CheckRange(input);
            RunEntered(input, frame.Alpha, frame.Foreground, width, height, cancel);
        }
        finally
        {
            Exit();
        }
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
    /// <param name="cancel">Stops the frame, as for <see cref="Process"/>.</param>
    public void ProcessInto(Memory<float> rgbPlanar, int width, int height, Memory<float> alpha, Memory<float> foreground, CancellationToken cancel = default)
    {
        CheckSize(width, height, rgbPlanar.Length, 3L * width * height, "planar RGB floats");
        CheckSize(width, height, alpha.Length, (long)width * height, "alpha floats");
        CheckSize(width, height, foreground.Length, 3L * width * height, "foreground floats");
        CheckFrame(width, height);
        int n = width * height;
        CheckRange(rgbPlanar.Span[..(3 * n)]);
        Run(rgbPlanar[..(3 * n)], alpha[..n], foreground[..(3 * n)], width, height, cancel);
    }

    /// <summary>The frame's values in 0..1, where <see cref="CheckInputRange"/> asks for it.</summary>
    private void CheckRange(ReadOnlySpan<float> pixels)
    {
        if (CheckInputRange && !UnitRange.Holds(pixels))
            throw new ArgumentOutOfRangeException("rgbPlanar", $"frame values must be in 0..1, found range {UnitRange.Describe(pixels)}");
    }

    /// <summary>
    /// <see cref="Process"/> for planar values the caller has already range-checked (the ML.NET transform, which
    /// checks while converting): no second pass over the values and no copy. The array is read during this call only,
    /// so the caller may refill it for the next frame.
    /// </summary>
    internal MatteFrame ProcessChecked(float[] rgbPlanar, int width, int height)
    {
        CheckPlanar(rgbPlanar, width, height);
        int n = width * height;
        var frame = new MatteFrame(width, height, new float[n], new float[3 * n]);
        ProcessCheckedInto(rgbPlanar, width, height, frame.Alpha, frame.Foreground);
        return frame;
    }

    /// <summary><see cref="ProcessChecked"/> into the caller's alpha (W·H floats) and foreground (3·W·H), as <see cref="ProcessInto"/> writes them.</summary>
    internal void ProcessCheckedInto(float[] rgbPlanar, int width, int height, float[] alpha, float[] foreground)
    {
        CheckPlanar(rgbPlanar, width, height);
        CheckSize(width, height, alpha.Length, (long)width * height, "alpha floats");
        CheckSize(width, height, foreground.Length, 3L * width * height, "foreground floats");
        int n = width * height;
        Run(rgbPlanar, alpha.AsMemory(0, n), foreground.AsMemory(0, 3 * n), width, height, CancellationToken.None);
    }

    /// <summary>A checked frame's array: exactly 3·W·H values, and a size the model takes.</summary>
    private void CheckPlanar(float[] rgbPlanar, int width, int height)
    {
        CheckSize(width, height, rgbPlanar.Length, 3L * width * height, "planar RGB floats");
        if (rgbPlanar.Length != 3L * width * height)
            throw new ArgumentException($"a {width}×{height} frame needs exactly {3L * width * height} planar RGB floats, got {rgbPlanar.Length}");
        CheckFrame(width, height);
    }

    /// <summary>Mattes a frame given as interleaved 8-bit RGB (R, G, B per pixel), rows <paramref name="stride"/> bytes apart (0: 3·W).</summary>
    /// <param name="rgb">The frame.</param>
    /// <param name="width">Frame width in pixels.</param>
    /// <param name="height">Frame height in pixels.</param>
    /// <param name="stride">Bytes from one row to the next; 0 for 3·width.</param>
    /// <param name="cancel">Stops the frame, as for <see cref="Process"/>.</param>
    public MatteFrame ProcessRgb24(ReadOnlySpan<byte> rgb, int width, int height, int stride = 0, CancellationToken cancel = default)
    {
        if (stride == 0) stride = 3 * width;
        if (stride < 3 * width) throw new ArgumentOutOfRangeException(nameof(stride), stride, $"stride must be at least 3·width = {3 * width}");
        CheckSize(width, height, rgb.Length, (long)stride * (height - 1) + 3L * width, "RGB24 bytes");
        CheckFrame(width, height);
        cancel.ThrowIfCancellationRequested();
        int n = width * height;
        var frame = new MatteFrame(width, height, new float[n], new float[3 * n]);
        Enter();
        try
        {
            var planar = FrameBuffer(3 * n);
            Rgb24ToPlanar(rgb, width, height, stride, planar);
            RunEntered(planar, frame.Alpha, frame.Foreground, width, height, cancel);
        }
        finally
        {
            Exit();
        }
        return frame;
    }

    /// <summary>Interleaved 8-bit RGB, rows <paramref name="stride"/> bytes apart, as planar floats scaled by 1/255 (3·W·H values).</summary>
    internal static void Rgb24ToPlanar(ReadOnlySpan<byte> rgb, int width, int height, int stride, Span<float> planar)
    {
        int n = width * height;
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
    }

    /// <summary>
    /// The planar frame <see cref="Process"/> copies and <see cref="ProcessRgb24"/> converts into (the caller's span is
    /// not memory ONNX Runtime can be handed), reused from frame to frame: a fresh 2 MB array a frame made the frame take
    /// about twice as long at 512×288 (its pages faulted in anew, and the garbage collections it caused). Only between
    /// <see cref="Enter"/> and <see cref="Exit"/>.
    /// </summary>
    private float[] FrameBuffer(int length)
    {
        if (_frameBuffer.Length != length) _frameBuffer = new float[length];
        return _frameBuffer;
    }

    private static void CheckSize(int width, int height, long actual, long expected, string what)
    {
        if (width <= 0 || height <= 0)
            throw new ArgumentOutOfRangeException(nameof(width), $"frame size must be positive, got {width}×{height}");
        if (actual < expected)
            throw new ArgumentException($"a {width}×{height} frame needs {expected} {what}, got {actual}");
    }

    /// <summary>
    /// What the frame's size allows, checked before its pixels are converted or ONNX Runtime sees it: at most
    /// <see cref="MaxFramePixels"/>, and a downsample ratio that leaves the network at least one cell of its coarsest
    /// feature map (otherwise ONNX Runtime fails inside a Conv with "Invalid input shape: {0,0}").
    /// </summary>
    private void CheckFrame(int width, int height) => CheckFrame(width, height, MaxFramePixels, _downsampleRatio);

    /// <summary><see cref="CheckFrame(int, int)"/> for a stream with these limits (also <see cref="PipelinedVideoMatter"/>'s).</summary>
    internal static void CheckFrame(int width, int height, long maxFramePixels, float? downsampleRatio)
    {
        if (width <= 0 || height <= 0)
            throw new ArgumentOutOfRangeException(nameof(width), $"frame size must be positive, got {width}×{height}");
        long pixels = (long)width * height;
        if (pixels > maxFramePixels)
            throw new UserInputException(string.Create(CultureInfo.InvariantCulture,
                $"the frame is {width}×{height}, {pixels / 1e6:F1} megapixels: more than the limit of {maxFramePixels / 1e6:F1} (matting takes about {BytesPerPixel} bytes per pixel, {pixels * BytesPerPixel / 1e9:F1} GB for this frame): scale it down first, or raise VideoMatterOptions.MaxFramePixels"));
        float ratio = downsampleRatio ?? MattingContract.DefaultDownsampleRatio(width, height);
        if (!MattingContract.IsLargeEnough(width, height, ratio))
            throw new UserInputException(string.Create(CultureInfo.InvariantCulture,
                $"downsample ratio {ratio:G6} is too small for a {width}×{height} frame: the network would see {MattingContract.NetworkSide(width, ratio)}×{MattingContract.NetworkSide(height, ratio)} pixels, less than one {MattingContract.CoarsestStride}-pixel cell of its coarsest feature map; the smallest ratio for this size is {MattingContract.SmallestDownsampleRatio(width, height):G4}"));
    }

    /// <summary>
    /// Peak memory per frame pixel, measured with <c>bivm matte</c> on one image at the default ratio (README,
    /// "Reliability": 1.02 GB for 3840×2160, 1.95 GB for 4096×4096, before the pipeline of #13), for the size-limit message.
    /// </summary>
    private const int BytesPerPixel = 120;

    private void Run(Memory<float> planar, Memory<float> alpha, Memory<float> foreground, int width, int height, CancellationToken cancel)
    {
        Enter();
        try
        {
            RunEntered(planar, alpha, foreground, width, height, cancel);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Takes the stream for one call: an overlapping call throws instead of mixing two frames' state or buffers.</summary>
    private void Enter()
    {
        if (Interlocked.Exchange(ref _busy, 1) == 1)
            throw new InvalidOperationException("VideoMatter is one stream: calls must not overlap (use one VideoMatter per stream)");
    }

    private void Exit() => Volatile.Write(ref _busy, 0);

    /// <summary>One frame through the model, between <see cref="Enter"/> and <see cref="Exit"/>.</summary>
    private void RunEntered(Memory<float> planar, Memory<float> alpha, Memory<float> foreground, int width, int height, CancellationToken cancel)
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
                RunCancellable(cancel);
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

    /// <summary>A copy of state k (r{k+1}o of the last frame); empty before the first frame. For tests.</summary>
    internal float[] DebugState(int k) => _previous is null ? [] : _previous[2 + k].GetTensorDataAsSpan<float>().ToArray();

    /// <summary>
    /// The one bridge from a <see cref="CancellationToken"/> to ONNX Runtime: while the run is in flight, cancelling
    /// sets <see cref="RunOptions.Terminate"/>, which ONNX Runtime checks between nodes, so the run ends early with an
    /// error that is reported as <see cref="OperationCanceledException"/>. The flag is cleared before each run (a
    /// terminated run leaves it set) and the registration is disposed, waiting for a callback in progress, before
    /// the next run can start.
    /// </summary>
    private void RunCancellable(CancellationToken cancel)
    {
        _runOptions.Terminate = false;
        if (!cancel.CanBeCanceled)
        {
            _session.Session.RunWithBinding(_runOptions, _binding);
            return;
        }
        using var bridge = cancel.Register(static options => ((RunOptions)options!).Terminate = true, _runOptions);
        try
        {
            cancel.ThrowIfCancellationRequested();
            _session.Session.RunWithBinding(_runOptions, _binding);
        }
        catch (OnnxRuntimeException e) when (cancel.IsCancellationRequested)
        {
            throw new OperationCanceledException("the frame was cancelled while ONNX Runtime ran it", e, cancel);
        }
    }

    /// <summary>Releases the stream's state and run options, and the session if this matter made it.</summary>
    public void Dispose()
    {
        Reset();
        _binding.Dispose();
        _runOptions.Dispose();
        if (_ownsSession) _session.Dispose();
    }
}
