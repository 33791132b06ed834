using System.Runtime.ExceptionServices;
using BiVM.Contracts;
using BiVM.Graph;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace BiVM.Estimators.Video;

/// <summary>
/// Mattes a stream of frames on several threads by pipelining the network instead of splitting each layer: the model
/// is cut into four stages (<see cref="PipelineStages"/>: encoder, recurrent decoder, last decoder block, refiner),
/// each an ONNX Runtime session on one thread, and the workers run whichever stage of whichever frame is ready, so
/// frame t + 1's encoder runs while frame t's decoder and refiner do. Only the recurrent decoder waits for the
/// previous frame; stages of different frames otherwise run side by side. The same values as
/// <see cref="VideoMatter"/> frame by frame, a frame or two later.
/// </summary>
/// <remarks>
/// <para>
/// Why: on two cores each layer split over both threads gains little (docs/kernels.md: the items of a split layer
/// run about 1.5× slower when both threads run them), while whole stages on two threads run much nearer their
/// one-thread speed: on Zen 5 (2 vCPUs) two workers take 1/1.85 of one worker's time per frame at 512×288, where two
/// intra-op threads take 1/1.2 (docs/benchmark-history.md, *Frames in a pipeline*).
/// </para>
/// <para>
/// Memory: <see cref="FramesInFlight"/> frames' buffers (the frame, the outputs and every tensor that crosses the cut);
/// nothing of a frame's size is allocated per frame. The first frame of each <see cref="Run"/> goes through the whole
/// model (one thread), which tells the sizes of those buffers. And one set of stage sessions per worker, each with its
/// own ONNX Runtime arena (made when the worker first runs a stage, kept until disposed): shared sessions moved their
/// tensors between the cores at every frame (docs/kernels.md, *sessions per worker*); on two workers the process held
/// about 50 MB more at 512×288 and 65–75 MB more at 1080p for it.
/// </para>
/// </remarks>
public sealed class PipelinedVideoMatter : IDisposable
{
    private static readonly float[] FirstFrameState = [0f];
    private static readonly long[] FirstFrameStateShape = [1, 1, 1, 1];

    private readonly MattingSession _whole;
    private readonly byte[] _model;
    // Per worker and stage (EnsureStages); worker 0's made with the stage models, the others' at their first run.
    private InferenceSession?[][] _stages = [];
    private PipelineStage[] _parts = [];
    private readonly SessionOptions _stageOptions;
    private readonly IReadOnlyList<string> _cut;
    private readonly float? _downsampleRatio;
    private readonly RunOptions _runOptions = new();
    private int _busy;

    /// <summary>
    /// Loads the options' model (the default model when null) and cuts it into its stages; the stream runs on
    /// <see cref="VideoMatterOptions.IntraOpThreads"/> workers (0: one per logical core).
    /// </summary>
    /// <exception cref="UserInputException">The model cannot be loaded, is not a matting model, or cannot be cut (its nodes do not carry the exporter's names).</exception>
    public PipelinedVideoMatter(VideoMatterOptions? options = null)
        : this(MattingSession.LoadModel(options ??= new VideoMatterOptions()), options.ModelPath ?? DefaultModel.Name, options)
    {
    }

    /// <summary>A pipeline over model bytes (<paramref name="options"/>' ModelPath is not read).</summary>
    /// <param name="model">The ONNX file's bytes.</param>
    /// <param name="modelName">How errors name the model.</param>
    /// <param name="options">Workers (IntraOpThreads), ratio, checks and limits as for <see cref="VideoMatter"/>.</param>
    /// <exception cref="UserInputException">As for <see cref="PipelinedVideoMatter(VideoMatterOptions)"/>.</exception>
    public PipelinedVideoMatter(byte[] model, string modelName, VideoMatterOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new VideoMatterOptions();
        options.Validate();
        ModelName = modelName;
        Checksum = ModelChecksum.Check(model);
        if (options.VerifyChecksum) MattingSession.RequireIntact(Checksum, ModelName);
        try
        {
            _cut = PipelineStages.CutTensors(model);
        }
        catch (Exception e) when (e is InvalidOperationException or InvalidProtocolBufferException)
        {
            throw new UserInputException($"{ModelName}: cannot run as a pipeline: {e.Message}", e);
        }
        // The whole model with the cut tensors as extra outputs: ONNX Runtime infers their types, and it runs the
        // first frame of each stream, whose outputs give their sizes.
        _whole = new MattingSession(PipelineStages.WithOutputs(model, _cut), ModelName, intraOpThreads: 1, verifyChecksum: false);
        _downsampleRatio = options.DownsampleRatio;
        MaxFramePixels = options.MaxFramePixels;
        CheckInputRange = options.CheckInputRange;
        Workers = options.IntraOpThreads > 0 ? options.IntraOpThreads : Environment.ProcessorCount;
        _stageOptions = MattingSession.CreateSessionOptions(intraOpThreads: 1);
        _model = model;
    }

    /// <summary>The model file, or <see cref="DefaultModel.Name"/>.</summary>
    public string ModelName { get; }

    /// <summary>What the model file's integrity checksum said when it was loaded (<see cref="MattingSession.Checksum"/>).</summary>
    public ChecksumStatus Checksum { get; }

    /// <summary>Threads that run the stages: the caller of <see cref="Run"/> and Workers − 1 more.</summary>
    public int Workers { get; }

    /// <summary>
    /// The stage models and worker 0's sessions of them (which checks that every stage loads), made at the first
    /// stream's first frame: the cut tensors' element types and ranks are those of that frame's values (ONNX Runtime's
    /// output metadata leaves the rank of a custom op's output unknown). The other workers' sessions are made by
    /// <see cref="Stage"/> when each first runs that stage.
    /// </summary>
    private void EnsureStages(IReadOnlyDictionary<string, (int ElementType, int Rank)> types)
    {
        if (_stages.Length > 0) return;
        var stages = new List<InferenceSession>();
        try
        {
            _parts = PipelineStages.Split(_model, types).ToArray();
            var perWorker = new InferenceSession?[Workers][];
            for (int w = 0; w < Workers; w++) perWorker[w] = new InferenceSession?[_parts.Length];
            for (int s = 0; s < _parts.Length; s++) stages.Add(new InferenceSession(_parts[s].Model, _stageOptions));
            perWorker[0] = [.. stages];
            _stages = perWorker;
        }
        catch (Exception e) when (e is InvalidOperationException or OnnxRuntimeException)
        {
            foreach (var stage in stages) stage.Dispose();
            throw new UserInputException($"{ModelName}: cannot run as a pipeline: {e.Message}", e);
        }
    }

    /// <summary>
    /// Worker <paramref name="worker"/>'s session of stage <paramref name="stage"/>, made at its first call (by that
    /// worker only, so without a lock). Each worker runs sessions of its own: ONNX Runtime reuses a session's buffers
    /// from run to run, and a session run by both workers in turn had its intermediate tensors move between the cores'
    /// caches at every frame (on the Zen 4 host each stage then took 1.1–1.35× its one-worker time; docs/kernels.md,
    /// *sessions per worker*).
    /// </summary>
    internal InferenceSession Stage(int worker, int stage) => _stages[worker][stage] ??= new InferenceSession(_parts[stage].Model, _stageOptions);

    /// <summary>Frames whose buffers are kept: at most this many are between their read and their write (one more than the workers, at least 3).</summary>
    public int FramesInFlight => Math.Max(3, Workers + 1);

    /// <summary>The largest frame (width·height) a stream accepts (<see cref="VideoMatterOptions.MaxFramePixels"/>).</summary>
    public long MaxFramePixels { get; }

    /// <summary>Whether each frame's values are checked to be in 0..1 (<see cref="VideoMatterOptions.CheckInputRange"/>).</summary>
    public bool CheckInputRange { get; }

    /// <summary>
    /// Mattes a stream of <paramref name="width"/>×<paramref name="height"/> frames, starting from an empty state,
    /// until <paramref name="read"/> returns false. <paramref name="read"/> fills the buffer it is given with the
    /// next frame (3·H·W planar RGB values in 0..1); <paramref name="write"/> receives each frame's alpha (H·W) and
    /// foreground (3·H·W, planar RGB), in order, valid during the call. Both are called from the workers (one at a
    /// time each, never concurrently with themselves); an exception from either ends the stream and is rethrown here.
    /// The buffers of a stream are kept for the next one of the same size.
    /// </summary>
    /// <returns>The number of frames matted.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancel"/> was cancelled; frames already written stay written.</exception>
    public long Run(int width, int height, Func<Memory<float>, bool> read, Action<ReadOnlyMemory<float>, ReadOnlyMemory<float>> write, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(write);
        ObjectDisposedException.ThrowIf(_disposed, this);
        VideoMatter.CheckFrame(width, height, MaxFramePixels, _downsampleRatio);
        if (Interlocked.Exchange(ref _busy, 1) == 1)
            throw new InvalidOperationException("PipelinedVideoMatter runs one stream at a time: calls must not overlap");
        try
        {
            _runOptions.Terminate = false;
            if (_buffers is not { } kept || kept.Width != width || kept.Height != height)
            {
                _buffers?.Dispose();
                _buffers = null;
                _buffers = new Buffers(width, height, FramesInFlight, _downsampleRatio ?? MattingContract.DefaultDownsampleRatio(width, height));
            }
            return new Stream(this, _buffers, read, write, cancel).Run();
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>Releases the sessions, the kept buffers and the helper threads (not while a <see cref="Run"/> is in progress); later calls do nothing.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _helpersOrNull?.Dispose();
        _buffers?.Dispose();
        foreach (var stage in _stages.SelectMany(w => w)) stage?.Dispose();
        _stageOptions.Dispose();
        _whole.Dispose();
        _runOptions.Dispose();
    }

    private Buffers? _buffers;
    private Helpers? _helpersOrNull;
    private bool _disposed;

    /// <summary>The Workers − 1 threads beside the caller, started at the first stream and kept (the ops' per-thread scratch with them).</summary>
    private Helpers _helpers => _helpersOrNull ??= new Helpers(Workers - 1);

    /// <summary>Threads that run one action each time <see cref="Run"/> is called, beside the caller.</summary>
    private sealed class Helpers : IDisposable
    {
        private readonly Thread[] _threads;
        private readonly SemaphoreSlim _start = new(0);
        private readonly CountdownEvent _finished;
        private Action<int>? _work;
        private volatile bool _disposed;

        public Helpers(int count)
        {
            _finished = new CountdownEvent(count);
            _threads = Enumerable.Range(1, count).Select(i => new Thread(() => Loop(i)) { IsBackground = true, Name = $"bivm-pipeline-{i}" }).ToArray();
            foreach (var thread in _threads) thread.Start();
        }

        /// <summary>Runs <paramref name="work"/> on every helper and on the calling thread; returns when all have returned.</summary>
        public void Run(Action<int> work)
        {
            if (_threads.Length == 0)
            {
                work(0);
                return;
            }
            _work = work;
            _finished.Reset();
            _start.Release(_threads.Length);
            work(0);
            _finished.Wait();
            _work = null;
        }

        private void Loop(int index)
        {
            while (true)
            {
                _start.Wait();
                if (_disposed) return;
                _work!(index);
                _finished.Signal();
            }
        }

        public void Dispose()
        {
            _disposed = true;
            if (_threads.Length > 0) _start.Release(_threads.Length);
            foreach (var thread in _threads) thread.Join();
            _start.Dispose();
            _finished.Dispose();
        }
    }

    /// <summary>
    /// The memory of a stream of one size, kept from stream to stream: per slot the frame, the outputs and (once the
    /// first frame has told their shapes) every tensor the stages hand on, and each stage's binding to them.
    /// </summary>
    private sealed class Buffers(int width, int height, int slots, float ratio) : IDisposable
    {
        public int Width { get; } = width;
        public int Height { get; } = height;
        public int Slots { get; } = slots;
        public float[] Ratio { get; } = [ratio];
        public float[][] Source { get; } = Enumerable.Range(0, slots).Select(_ => new float[3 * width * height]).ToArray();
        public float[][] Alpha { get; } = Enumerable.Range(0, slots).Select(_ => new float[width * height]).ToArray();
        public float[][] Foreground { get; } = Enumerable.Range(0, slots).Select(_ => new float[3 * width * height]).ToArray();

        /// <summary>Slot k's tensors by name (the stages' inputs and outputs); null until the first frame has run.</summary>
        public Dictionary<string, OrtValue>[]? Values { get; set; }

        /// <summary>
        /// Worker w's binding of stage s for slot k: its inputs from slot k (the state from slot k − 1), its outputs into
        /// slot k; made by worker w at its first run of that stage and slot (<see cref="Stream"/>'s Binding).
        /// </summary>
        public OrtIoBinding?[,,]? Bindings { get; set; }

        /// <summary>What is disposed with the buffers, in order of creation (disposed in reverse: bindings before values).</summary>
        public List<IDisposable> Owned { get; } = [];

        public OrtValue Tensor(float[] data, int channels) =>
            OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, data.AsMemory(), [1, channels, Height, Width]);

        public OrtValue Keep(OrtValue value)
        {
            Owned.Add(value);
            return value;
        }

        public void Dispose()
        {
            for (int i = Owned.Count - 1; i >= 0; i--) Owned[i].Dispose();
        }
    }

    /// <summary>One <see cref="Run"/>: its callbacks and schedule over the kept <see cref="Buffers"/>.</summary>
    private sealed class Stream
    {
        private readonly PipelinedVideoMatter _m;
        private readonly Buffers _b;
        private readonly int _slots;
        private readonly Func<Memory<float>, bool> _read;
        private readonly Action<ReadOnlyMemory<float>, ReadOnlyMemory<float>> _write;
        private readonly CancellationToken _cancel;

        // The schedule (under _gate). A frame's steps: read (0), stage s (1 + s), write (WriteStep). Slot k holds
        // frame _frame[k] (−1: free), whose next step is _step[k], running while _busy[k]. Reads, writes and the
        // recurrent stage go in frame order (_readTurn, _writeTurn, _recurrentTurn: the next frame each takes); the
        // other stages of different frames run side by side.
        private readonly object _gate = new();
        private readonly long[] _frame;
        private readonly int[] _step;
        private readonly bool[] _busy;
        private long _admitted = 1, _readTurn = 1, _writeTurn = 1, _recurrentTurn = 1;
        private bool _ended;
        private Exception? _error;

        public Stream(PipelinedVideoMatter m, Buffers buffers, Func<Memory<float>, bool> read,
            Action<ReadOnlyMemory<float>, ReadOnlyMemory<float>> write, CancellationToken cancel)
        {
            (_m, _b, _read, _write, _cancel) = (m, buffers, read, write, cancel);
            _slots = buffers.Slots;
            _frame = new long[_slots];
            Array.Fill(_frame, -1);
            _step = new int[_slots];
            _busy = new bool[_slots];
        }

        public long Run()
        {
            _cancel.ThrowIfCancellationRequested();
            using var bridge = _cancel.Register(() => Fail(new OperationCanceledException(_cancel)));
            if (!ReadFrame(0)) return 0;
            FirstFrame();
            _m._helpers.Run(Work);
            if (_error is { } error) ExceptionDispatchInfo.Throw(error);
            return _writeTurn;
        }

        /// <summary>Reads frame f into its slot; false at the end of the stream.</summary>
        private bool ReadFrame(long f)
        {
            var source = _b.Source[f % _slots];
            if (!_read(source)) return false;
            if (_m.CheckInputRange && !UnitRange.Holds(source))
                throw new ArgumentOutOfRangeException("read", $"frame {f} has values outside 0..1, range {UnitRange.Describe(source)}");
            return true;
        }

        /// <summary>
        /// Frame 0 through the whole model (one thread) from the empty state, its outputs into slot 0. The first time
        /// at this size the state and the cut tensors go to ONNX Runtime's memory, and their shapes size every slot's
        /// buffers (the state is then copied into slot 0 for frame 1); after that they go straight into slot 0.
        /// </summary>
        private void FirstFrame()
        {
            var session = _m._whole.Session;
            using var binding = session.CreateIoBinding();
            var owned = new List<OrtValue>();
            OrtValue Own(OrtValue v) { owned.Add(v); return v; }
            var learned = MattingContract.StateOutputs.Concat(_m._cut).ToList();
            try
            {
                binding.BindInput(MattingContract.Source, Own(_b.Tensor(_b.Source[0], 3)));
                foreach (var state in MattingContract.StateInputs) binding.BindInput(state, Own(OrtValue.CreateTensorValueFromMemory(FirstFrameState, FirstFrameStateShape)));
                binding.BindInput(MattingContract.DownsampleRatio, Own(OrtValue.CreateTensorValueFromMemory(_b.Ratio, [1])));
                binding.BindOutput(MattingContract.Foreground, Own(_b.Tensor(_b.Foreground[0], 3)));
                binding.BindOutput(MattingContract.Alpha, Own(_b.Tensor(_b.Alpha[0], 1)));
                foreach (var name in learned)
                    if (_b.Values is { } values) binding.BindOutput(name, values[0][name]);
                    else binding.BindOutputToDevice(name, OrtMemoryInfo.DefaultInstance);
                RunCancellable(session, binding);
                if (_b.Values is null)
                {
                    using var outputs = binding.GetOutputValues(); // fgr, pha, then `learned` in order
                    Allocate(learned, outputs);
                }
            }
            finally
            {
                binding.ClearBoundInputs();
                binding.ClearBoundOutputs();
                foreach (var value in owned) value.Dispose();
            }
            _write(_b.Alpha[0], _b.Foreground[0]);
        }

        /// <summary>
        /// Every slot's tensors, shaped as frame 0's <paramref name="outputs"/> (and frame 0's state copied into slot
        /// 0), the stage sessions if this is the matter's first stream, and each stage's binding per slot.
        /// </summary>
        private void Allocate(List<string> learned, IReadOnlyList<OrtValue> outputs)
        {
            var shapes = learned.Select((name, i) => outputs[2 + i].GetTensorTypeAndShape()).ToList();
            _m.EnsureStages(_m._cut.ToDictionary(t => t, t => ((int)shapes[learned.IndexOf(t)].ElementDataType, shapes[learned.IndexOf(t)].Shape.Length)));
            var values = new Dictionary<string, OrtValue>[_slots];
            for (int k = 0; k < _slots; k++)
            {
                values[k] = new Dictionary<string, OrtValue>
                {
                    [MattingContract.Source] = _b.Keep(_b.Tensor(_b.Source[k], 3)),
                    [MattingContract.DownsampleRatio] = _b.Keep(OrtValue.CreateTensorValueFromMemory(_b.Ratio, [1])),
                    [MattingContract.Foreground] = _b.Keep(_b.Tensor(_b.Foreground[k], 3)),
                    [MattingContract.Alpha] = _b.Keep(_b.Tensor(_b.Alpha[k], 1)),
                };
                for (int i = 0; i < learned.Count; i++)
                    values[k][learned[i]] = _b.Keep(OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, shapes[i].ElementDataType, shapes[i].Shape));
            }
            for (int i = 0; i < MattingContract.StateOutputs.Count; i++)
                outputs[2 + i].GetTensorDataAsSpan<float>().CopyTo(values[0][MattingContract.StateOutputs[i]].GetTensorMutableDataAsSpan<float>());
            (_b.Values, _b.Bindings) = (values, new OrtIoBinding?[_m._stages.Length, _m._parts.Length, _slots]);
        }

        /// <summary>
        /// Worker <paramref name="worker"/>'s binding of stage <paramref name="stage"/> for slot <paramref name="slot"/>,
        /// made at its first use (by that worker only). Frame f uses slot f mod K; its state inputs are the previous
        /// slot's state outputs.
        /// </summary>
        private OrtIoBinding Binding(int worker, int stage, int slot)
        {
            if (_b.Bindings![worker, stage, slot] is { } made) return made;
            var values = _b.Values!;
            var b = _m.Stage(worker, stage).CreateIoBinding();
            lock (_b.Owned) _b.Owned.Add(b);
            foreach (var input in _m._parts[stage].Inputs)
            {
                int state = MattingContract.StateInputs.ToList().IndexOf(input);
                b.BindInput(input, state >= 0 ? values[(slot + _slots - 1) % _slots][MattingContract.StateOutputs[state]] : values[slot][input]);
            }
            foreach (var output in _m._parts[stage].Outputs) b.BindOutput(output, values[slot][output]);
            return _b.Bindings[worker, stage, slot] = b;
        }

        /// <summary>Step of a frame: read (0), stage s (1 + s), write (<see cref="WriteStep"/>).</summary>
        private static int WriteStep => PipelineStages.Names.Count + 1;

        /// <summary>
        /// A worker: takes a step that can run (a write first, then the step closest to the output, the oldest frame
        /// first; a new frame's read last), runs it outside the lock, repeats until the stream has ended or failed.
        /// </summary>
        private void Work(int worker)
        {
            while (true)
            {
                int slot = -1;
                lock (_gate)
                {
                    while (true)
                    {
                        if (_error is not null || _ended && Array.TrueForAll(_frame, f => f < 0)) { Monitor.PulseAll(_gate); return; }
                        slot = Pick();
                        if (slot >= 0) { _busy[slot] = true; break; }
                        Monitor.Wait(_gate);
                    }
                }
                long frame = _frame[slot];
                int step = _step[slot];
                bool more = true;
                try
                {
                    if (step == 0) more = ReadFrame(frame);
                    else if (step == WriteStep) _write(_b.Alpha[slot], _b.Foreground[slot]);
                    else RunCancellable(_m.Stage(worker, step - 1), Binding(worker, step - 1, slot));
                }
                catch (Exception e)
                {
                    Fail(e);
                }
                lock (_gate)
                {
                    _busy[slot] = false;
                    if (step == 0) _readTurn++;
                    if (step == 1 + PipelineStages.Recurrent) _recurrentTurn++;
                    if (step == WriteStep) _writeTurn++;
                    if (!more) _ended = true;
                    if (!more || step == WriteStep) _frame[slot] = -1;
                    else _step[slot]++;
                    Monitor.PulseAll(_gate);
                }
            }
        }

        /// <summary>The slot whose next step runs now, or −1 (under <see cref="_gate"/>); admits a new frame when none other can.</summary>
        private int Pick()
        {
            int best = -1;
            for (int k = 0; k < _slots; k++)
            {
                if (_frame[k] < 0 || _busy[k]) continue;
                int step = _step[k];
                bool ready = step == WriteStep ? _frame[k] == _writeTurn
                    : step == 1 + PipelineStages.Recurrent ? _frame[k] == _recurrentTurn
                    : step != 0;
                if (!ready) continue;
                if (best < 0 || Priority(k) > Priority(best)) best = k;
            }
            if (best >= 0) return best;
            // A new frame once the previous one has been read (reads stay in order), into its slot once that is free.
            int free = (int)(_admitted % _slots);
            if (_ended || _readTurn != _admitted || _frame[free] >= 0) return -1;
            _frame[free] = _admitted++;
            _step[free] = 0;
            return free;
        }

        /// <summary>Writes first, then later steps, then older frames.</summary>
        private long Priority(int k) => _step[k] * (long)int.MaxValue - _frame[k];

        private void RunCancellable(InferenceSession session, OrtIoBinding binding)
        {
            _cancel.ThrowIfCancellationRequested();
            try
            {
                session.RunWithBinding(_m._runOptions, binding);
            }
            catch (OnnxRuntimeException e) when (_cancel.IsCancellationRequested)
            {
                throw new OperationCanceledException("the stream was cancelled while ONNX Runtime ran a frame", e, _cancel);
            }
        }

        /// <summary>Records the stream's first error and stops the other worker's run (ONNX Runtime checks between nodes).</summary>
        private void Fail(Exception e)
        {
            lock (_gate)
            {
                _error ??= e;
                Monitor.PulseAll(_gate);
            }
            _m._runOptions.Terminate = true;
        }
    }
}
