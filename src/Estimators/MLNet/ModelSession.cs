using BiVM.Estimators.Video;

namespace BiVM.Estimators.MLNet;

/// <summary>
/// The one ONNX Runtime session of a BiVM transform, shared by all its streams (ONNX Runtime allows concurrent
/// runs on one session), and the streams opened on it. <see cref="Dispose"/> closes the open streams and releases
/// the session; a stream opened afterwards loads the session again from the bytes kept here. That is what makes
/// ML.NET's default prediction engine usable: disposing an engine disposes the transformer it was made from
/// (<c>PredictionEngineOptions.OwnsTransformer</c> is true by default).
/// </summary>
internal sealed class ModelSession(ModelBlob blob) : IDisposable
{
    private readonly Lock _lock = new();
    // Weak: a stream dropped without Dispose (an engine never disposed) must stay collectable; its finalizer frees it.
    private readonly List<WeakReference<FrameStream>> _streams = [];
    private MattingSession? _session;

    public ModelBlob Blob { get; } = blob;

    /// <summary>Wraps a session already loaded (the one <c>Fit</c> opened to check the model).</summary>
    public ModelSession(ModelBlob blob, MattingSession loaded) : this(blob) => _session = loaded;

    /// <summary>A new stream: its own recurrent state, over the shared session.</summary>
    public FrameStream Open(bool reusesFrames = false)
    {
        lock (_lock)
        {
            _session ??= new MattingSession(Blob.Model, Blob.Options.ModelName, Blob.Options.IntraOpThreads);
            var stream = new FrameStream(this, new VideoMatter(_session, Blob.Options.DownsampleRatio), reusesFrames);
            _streams.RemoveAll(w => !w.TryGetTarget(out _));
            _streams.Add(new WeakReference<FrameStream>(stream));
            return stream;
        }
    }

    internal void Closed(FrameStream stream)
    {
        lock (_lock) _streams.RemoveAll(w => !w.TryGetTarget(out var s) || ReferenceEquals(s, stream));
    }

    public void Dispose()
    {
        List<FrameStream> open;
        lock (_lock)
        {
            open = _streams.Select(w => w.TryGetTarget(out var s) ? s : null).OfType<FrameStream>().ToList();
            _streams.Clear();
        }
        foreach (var stream in open) stream.Close(byOwner: true);
        lock (_lock)
        {
            _session?.Dispose();
            _session = null;
        }
    }
}

/// <summary>
/// One stream of frames (one cursor, one prediction engine): a <see cref="VideoMatter"/> over the shared session.
/// Released by <see cref="Dispose"/> (the cursor's or row's), by the transformer's Dispose, or, for a stream
/// nobody disposed, by its finalizer, so its native state never outlives it.
/// </summary>
internal sealed class FrameStream : IDisposable
{
    private readonly ModelSession _owner;
    private VideoMatter? _matter;
    private bool _closedByOwner;
    private float[] _planar = [];
    private static int s_live;

    internal FrameStream(ModelSession owner, VideoMatter matter, bool reusesFrames)
    {
        _owner = owner;
        _matter = matter;
        ReusesFrames = reusesFrames;
        Interlocked.Increment(ref s_live);
    }

    /// <summary>
    /// Whether the frames this stream returns live only until its next frame (its reader copies them out at once, as
    /// the cursors' and rows' getters do): then alpha and foreground go into two arrays of the stream, reused from frame
    /// to frame. Otherwise (the saved form, whose rows keep them) each frame is new arrays. A fresh 2.4 MB of outputs a
    /// 512×288 frame had its pages faulted in and fed the garbage collector on every row.
    /// </summary>
    public bool ReusesFrames { get; }

    private MatteFrame? _reused;

    ~FrameStream() => Release(byOwner: false, finalizing: true);

    /// <summary>
    /// Streams opened and not released by their cursor, row or transformer, in this process. A stream only its
    /// finalizer freed stays counted: the resource tests read this to see that release is deterministic, and
    /// collections of other tests' garbage cannot move it.
    /// </summary>
    public static int LiveCount => Volatile.Read(ref s_live);

    /// <summary>
    /// This stream's buffer for one frame of planar RGB floats (3·W·H values), reused from frame to frame: the
    /// conversions write into it, so a frame costs no allocation on the way in.
    /// </summary>
    public float[] PlanarBuffer(int width, int height)
    {
        int length = checked(3 * width * height);
        if (_planar.Length != length) _planar = new float[length];
        return _planar;
    }

    /// <summary>Mattes the next frame, planar RGB in 0..1 already checked (<see cref="PlanarBuffer"/>); <paramref name="newStream"/> forgets the state first.</summary>
    public MatteFrame MattePlanar(float[] planar, int width, int height, bool newStream) => MattePlanar(Matter(newStream), planar, width, height);

    private MatteFrame MattePlanar(VideoMatter matter, float[] planar, int width, int height)
    {
        if (!ReusesFrames) return matter.ProcessChecked(planar, width, height);
        if (_reused is not { } frame || frame.Width != width || frame.Height != height)
            _reused = frame = new MatteFrame(width, height, new float[checked(width * height)], new float[checked(3 * width * height)]);
        matter.ProcessCheckedInto(planar, width, height, frame.Alpha, frame.Foreground);
        return frame;
    }

    /// <summary>
    /// Mattes the next frame given as interleaved 8-bit RGB scaled by 1/255: <see cref="VideoMatter.ProcessRgb24"/>, or
    /// where this stream reuses its frames its conversion (<see cref="VideoMatter.Rgb24ToPlanar"/>) into
    /// <see cref="PlanarBuffer"/> and the rest as <see cref="MattePlanar(float[], int, int, bool)"/>: the ML.NET path
    /// converts raw frames with the same code, at the same cost, as the frame-by-frame API.
    /// </summary>
    public MatteFrame MatteRgb24(ReadOnlySpan<byte> rgb, int width, int height, bool newStream)
    {
        var matter = Matter(newStream);
        if (!ReusesFrames) return matter.ProcessRgb24(rgb, width, height);
        // The row's length is checked against the size by FrameFormat.Matte, the size by ProcessCheckedInto.
        var planar = PlanarBuffer(width, height);
        VideoMatter.Rgb24ToPlanar(rgb, width, height, 3 * width, planar);
        return MattePlanar(matter, planar, width, height);
    }

    private VideoMatter Matter(bool newStream)
    {
        var matter = _matter ?? throw new ObjectDisposedException(nameof(BiVMTransformer), _closedByOwner
            ? "BiVM: the transformer was disposed while this cursor or prediction engine was open (a prediction engine disposes its transformer unless PredictionEngineOptions.OwnsTransformer is false)"
            : "BiVM: this stream was disposed");
        if (newStream) matter.Reset();
        return matter;
    }

    /// <summary>Releases the stream's state now (its cursor or row is done).</summary>
    public void Dispose()
    {
        Close(byOwner: false);
        _owner.Closed(this);
    }

    internal void Close(bool byOwner) => Release(byOwner, finalizing: false);

    private void Release(bool byOwner, bool finalizing)
    {
        var matter = Interlocked.Exchange(ref _matter, null);
        if (matter is null) return;
        _closedByOwner = byOwner;
        matter.Dispose();
        if (finalizing) return;
        Interlocked.Decrement(ref s_live);
        GC.SuppressFinalize(this);
    }
}
