using System.Runtime.ExceptionServices;
using BiVM.Contracts;
using BiVM.Graph;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace BiVM.Estimators.Video;

/// <summary>
/// Mattes a stream of frames on two threads by pipelining the network instead of splitting each layer: the model is
/// cut into four stages (<see cref="PipelineStages"/>: encoder, recurrent decoder, last decoder block, refiner), each
/// an ONNX Runtime session on one thread, and two workers run whichever stage of whichever frame is ready, so frame
/// t + 1's encoder runs while frame t's decoder and refiner do. Only the recurrent decoder waits for the previous
/// frame. The same values as <see cref="VideoMatter"/> frame by frame, at one frame more of latency.
/// </summary>
/// <remarks>
/// <para>
/// Why: on two cores each layer split over both threads gains little (docs/kernels.md: the items of a split layer
/// run about 1.5× slower when both threads run them), while two whole stages on two threads each run near their
/// one-thread speed. Measured on Zen 5 (2 vCPUs), README *Frames in a pipeline*.
/// </para>
/// <para>
/// Memory: <see cref="FramesInFlight"/> frames' buffers (the frame, the outputs and every tensor that crosses the cut);
/// nothing of a frame's size is allocated per frame. The first frame of each <see cref="Run"/> goes through the whole
/// model (one thread), which tells the sizes of those buffers.
/// </para>
/// </remarks>
public sealed class PipelinedVideoMatter : IDisposable
{
    private static readonly float[] FirstFrameState = [0f];
    private static readonly long[] FirstFrameStateShape = [1, 1, 1, 1];

    private readonly MattingSession _whole;
    private readonly byte[] _model;
    private readonly string _name;
    private InferenceSession[] _stages = [];
    private PipelineStage[] _parts = [];
    private readonly SessionOptions _stageOptions;
    private readonly IReadOnlyList<string> _cut;
    private readonly float? _downsampleRatio;
    private readonly RunOptions _runOptions = new();
    private int _busy;

    /// <summary>Loads the options' model (the default model when null) and cuts it into its stages.</summary>
    /// <exception cref="UserInputException">The model cannot be loaded, is not a matting model, or cannot be cut (its nodes do not carry the exporter's names).</exception>
    public PipelinedVideoMatter(VideoMatterOptions? options = null)
    {
        options ??= new VideoMatterOptions();
        var model = MattingSession.LoadModel(options);
        string name = options.ModelPath ?? DefaultModel.Name;
        if (options.VerifyChecksum) MattingSession.RequireIntact(ModelChecksum.Check(model), name);
        try
        {
            _cut = PipelineStages.CutTensors(model);
        }
        catch (Exception e) when (e is InvalidOperationException or InvalidProtocolBufferException)
        {
            throw new UserInputException($"{name}: cannot run as a pipeline: {e.Message}", e);
        }
        // The whole model with the cut tensors as extra outputs: ONNX Runtime infers their types, and it runs the
        // first frame of each stream, whose outputs give their sizes.
        _whole = new MattingSession(PipelineStages.WithOutputs(model, _cut), name, intraOpThreads: 1, verifyChecksum: false);
        _downsampleRatio = options.DownsampleRatio;
        MaxFramePixels = options.MaxFramePixels;
        CheckInputRange = options.CheckInputRange;
        _stageOptions = MattingSession.CreateSessionOptions(intraOpThreads: 1);
        (_model, _name) = (model, name);
    }

    /// <summary>
    /// The stage sessions, made at the first stream's first frame: the cut tensors' element types and ranks are
    /// those of that frame's values (ONNX Runtime's output metadata leaves the rank of a custom op's output unknown).
    /// </summary>
    private void EnsureStages(IReadOnlyDictionary<string, (int ElementType, int Rank)> types)
    {
        if (_stages.Length > 0) return;
        var stages = new List<InferenceSession>();
        try
        {
            _parts = PipelineStages.Split(_model, types).ToArray();
            foreach (var part in _parts) stages.Add(new InferenceSession(part.Model, _stageOptions));
            _stages = stages.ToArray();
        }
        catch (Exception e) when (e is InvalidOperationException or OnnxRuntimeException)
        {
            foreach (var stage in stages) stage.Dispose();
            throw new UserInputException($"{_name}: cannot run as a pipeline: {e.Message}", e);
        }
    }

    /// <summary>Frames whose buffers are kept: at most this many are between their encoder and their output (3).</summary>
    public int FramesInFlight => 3;

    /// <summary>The largest frame (width·height) a stream accepts (<see cref="VideoMatterOptions.MaxFramePixels"/>).</summary>
    public long MaxFramePixels { get; }

    /// <summary>Whether each frame's values are checked to be in 0..1 (<see cref="VideoMatterOptions.CheckInputRange"/>).</summary>
    public bool CheckInputRange { get; }

    /// <summary>
    /// Mattes a stream of <paramref name="width"/>×<paramref name="height"/> frames, starting from an empty state,
    /// until <paramref name="read"/> returns false. <paramref name="read"/> fills the buffer it is given with the
    /// next frame (3·H·W planar RGB values in 0..1); <paramref name="write"/> receives each frame's alpha (H·W) and
    /// foreground (3·H·W, planar RGB), in order, valid during the call. Both are called from the two workers (one at a
    /// time each, never concurrently with themselves); an exception from either ends the stream and is rethrown here.
    /// </summary>
    /// <returns>The number of frames matted.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancel"/> was cancelled; frames already written stay written.</exception>
    public long Run(int width, int height, Func<Memory<float>, bool> read, Action<ReadOnlyMemory<float>, ReadOnlyMemory<float>> write, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(write);
        VideoMatter.CheckFrame(width, height, MaxFramePixels, _downsampleRatio);
        if (Interlocked.Exchange(ref _busy, 1) == 1)
            throw new InvalidOperationException("PipelinedVideoMatter runs one stream at a time: calls must not overlap");
        try
        {
            _runOptions.Terminate = false;
            using var stream = new Stream(this, width, height, read, write, cancel);
            return stream.Run();
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>Releases the sessions.</summary>
    public void Dispose()
    {
        foreach (var stage in _stages) stage.Dispose();
        _stageOptions.Dispose();
        _whole.Dispose();
        _runOptions.Dispose();
    }

    /// <summary>One <see cref="Run"/>: its buffers, bindings and schedule.</summary>
    private sealed class Stream : IDisposable
    {
        private readonly PipelinedVideoMatter _m;
        private readonly int _width, _height, _slots;
        private readonly Func<Memory<float>, bool> _read;
        private readonly Action<ReadOnlyMemory<float>, ReadOnlyMemory<float>> _write;
        private readonly CancellationToken _cancel;
        private readonly float[][] _source, _alpha, _foreground;
        private readonly Dictionary<string, OrtValue>[] _values;
        private readonly OrtIoBinding[,] _bindings;
        private readonly List<IDisposable> _owned = [];
        private readonly float[] _ratio = new float[1];

        // The schedule (under _gate): frames 0 … _done[s] − 1 have passed stage s; stage s is running when _running[s].
        private readonly object _gate = new();
        private readonly long[] _done;
        private readonly bool[] _running;
        private bool _ended;
        private Exception? _error;

        public Stream(PipelinedVideoMatter m, int width, int height, Func<Memory<float>, bool> read,
            Action<ReadOnlyMemory<float>, ReadOnlyMemory<float>> write, CancellationToken cancel)
        {
            (_m, _width, _height, _read, _write, _cancel) = (m, width, height, read, write, cancel);
            _slots = m.FramesInFlight;
            int n = width * height;
            _source = new float[_slots][];
            _alpha = new float[_slots][];
            _foreground = new float[_slots][];
            for (int k = 0; k < _slots; k++)
            {
                _source[k] = new float[3 * n];
                _alpha[k] = new float[n];
                _foreground[k] = new float[3 * n];
            }
            _values = new Dictionary<string, OrtValue>[_slots];
            _bindings = new OrtIoBinding[PipelineStages.Names.Count, _slots];
            _done = new long[PipelineStages.Names.Count];
            _running = new bool[PipelineStages.Names.Count];
            _ratio[0] = m._downsampleRatio ?? MattingContract.DefaultDownsampleRatio(width, height);
        }

        public long Run()
        {
            _cancel.ThrowIfCancellationRequested();
            using var bridge = _cancel.Register(() => Fail(new OperationCanceledException(_cancel)));
            if (!ReadFrame(0)) return 0;
            FirstFrame();
            Array.Fill(_done, 1);
            var helper = new Thread(Work) { IsBackground = true, Name = "bivm-pipeline" };
            helper.Start();
            Work();
            helper.Join();
            if (_error is { } error) ExceptionDispatchInfo.Throw(error);
            return _done[^1];
        }

        /// <summary>Reads frame f into its slot; false at the end of the stream.</summary>
        private bool ReadFrame(long f)
        {
            var source = _source[f % _slots];
            if (!_read(source)) return false;
            if (_m.CheckInputRange && !UnitRange.Holds(source))
                throw new ArgumentOutOfRangeException("read", $"frame {f} has values outside 0..1, range {UnitRange.Describe(source)}");
            return true;
        }

        /// <summary>
        /// Frame 0 through the whole model: its outputs into slot 0, the state and the cut tensors to ONNX Runtime's
        /// memory, whose shapes size every slot's buffers; then the state is copied into slot 0 for frame 1.
        /// </summary>
        private void FirstFrame()
        {
            var session = _m._whole.Session;
            using var binding = session.CreateIoBinding();
            var owned = new List<OrtValue>();
            OrtValue Own(OrtValue v) { owned.Add(v); return v; }
            try
            {
                binding.BindInput(MattingContract.Source, Own(Tensor(_source[0], 3)));
                foreach (var state in MattingContract.StateInputs) binding.BindInput(state, Own(OrtValue.CreateTensorValueFromMemory(FirstFrameState, FirstFrameStateShape)));
                binding.BindInput(MattingContract.DownsampleRatio, Own(OrtValue.CreateTensorValueFromMemory(_ratio, [1])));
                binding.BindOutput(MattingContract.Foreground, Own(Tensor(_foreground[0], 3)));
                binding.BindOutput(MattingContract.Alpha, Own(Tensor(_alpha[0], 1)));
                var learned = MattingContract.StateOutputs.Concat(_m._cut).ToList();
                foreach (var name in learned) binding.BindOutputToDevice(name, OrtMemoryInfo.DefaultInstance);
                RunCancellable(session, binding);
                using var outputs = binding.GetOutputValues(); // fgr, pha, then `learned` in order
                _m.EnsureStages(_m._cut.ToDictionary(t => t, t =>
                {
                    var info = outputs[2 + learned.IndexOf(t)].GetTensorTypeAndShape();
                    return ((int)info.ElementDataType, info.Shape.Length);
                }));
                for (int k = 0; k < _slots; k++)
                {
                    _values[k] = new Dictionary<string, OrtValue>
                    {
                        [MattingContract.Source] = Keep(Tensor(_source[k], 3)),
                        [MattingContract.DownsampleRatio] = Keep(OrtValue.CreateTensorValueFromMemory(_ratio, [1])),
                        [MattingContract.Foreground] = Keep(Tensor(_foreground[k], 3)),
                        [MattingContract.Alpha] = Keep(Tensor(_alpha[k], 1)),
                    };
                    for (int i = 0; i < learned.Count; i++)
                    {
                        var info = outputs[2 + i].GetTensorTypeAndShape();
                        _values[k][learned[i]] = Keep(OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, info.ElementDataType, info.Shape));
                    }
                }
                for (int i = 0; i < MattingContract.StateOutputs.Count; i++)
                    outputs[2 + i].GetTensorDataAsSpan<float>().CopyTo(_values[0][MattingContract.StateOutputs[i]].GetTensorMutableDataAsSpan<float>());
            }
            finally
            {
                binding.ClearBoundInputs();
                binding.ClearBoundOutputs();
                foreach (var value in owned) value.Dispose();
            }
            _write(_alpha[0], _foreground[0]);
            // Frame f uses slot f mod K; its state inputs are the previous slot's state outputs.
            for (int s = 0; s < _m._stages.Length; s++)
                for (int k = 0; k < _slots; k++)
                {
                    var b = _m._stages[s].CreateIoBinding();
                    _owned.Add(b);
                    foreach (var input in _m._parts[s].Inputs)
                    {
                        int state = MattingContract.StateInputs.ToList().IndexOf(input);
                        b.BindInput(input, state >= 0 ? _values[(k + _slots - 1) % _slots][MattingContract.StateOutputs[state]] : _values[k][input]);
                    }
                    foreach (var output in _m._parts[s].Outputs) b.BindOutput(output, _values[k][output]);
                    _bindings[s, k] = b;
                }
        }

        private OrtValue Tensor(float[] data, int channels) =>
            OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, data.AsMemory(), [1, channels, _height, _width]);

        private OrtValue Keep(OrtValue value)
        {
            _owned.Add(value);
            return value;
        }

        /// <summary>A worker: takes the latest stage that can run (the one closest to the output first), runs it, repeats.</summary>
        private void Work()
        {
            int last = _done.Length - 1;
            while (true)
            {
                int stage = -1;
                long frame = 0;
                lock (_gate)
                {
                    while (true)
                    {
                        if (_error is not null || _ended && _done[last] == _done[0] && !_running[0]) { Monitor.PulseAll(_gate); return; }
                        for (int s = last; s >= 0 && stage < 0; s--)
                        {
                            if (_running[s]) continue;
                            long f = _done[s];
                            bool ready = s == 0 ? !_ended && f < _done[last] + _slots : f < _done[s - 1];
                            if (ready) (stage, frame) = (s, f);
                        }
                        if (stage >= 0) { _running[stage] = true; break; }
                        Monitor.Wait(_gate);
                    }
                }
                bool ran = false;
                try
                {
                    int slot = (int)(frame % _slots);
                    if (stage > 0 || ReadFrame(frame))
                    {
                        RunCancellable(_m._stages[stage], _bindings[stage, slot]);
                        if (stage == last) _write(_alpha[slot], _foreground[slot]);
                        ran = true;
                    }
                }
                catch (Exception e)
                {
                    Fail(e);
                }
                lock (_gate)
                {
                    _running[stage] = false;
                    if (ran) _done[stage]++;
                    else if (stage == 0) _ended = true;
                    Monitor.PulseAll(_gate);
                }
            }
        }

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

        /// <summary>The bindings (which hold pointers into the values' memory) first, then the values.</summary>
        public void Dispose()
        {
            for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        }
    }
}
