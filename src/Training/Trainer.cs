using System.Diagnostics;
using System.Runtime.InteropServices;
using BiVM.Contracts;
using BiVM.Data.Media;
using BiVM.Data.Synthesis;
using BiVM.Model.Binarization;
using BiVM.Model.Decoder;
using BiVM.Model.Encoder;
using BiVM.Model.Losses;
using BiVM.Model.Networks;
using BiVM.Model.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiVM.Training;

/// <summary>
/// Trains one network on generated composite clips, stage by stage (paper section 3.5.1):
/// L^M (eq. 19) + λ_EBB·L_EBB (eq. 13, BiVM) + λ_LBM·L_LBM (eq. 20–21, stages with <c>lbm</c>; and the pair-wise term of
/// <see cref="TrainingConfig.LambdaPairwise"/> where set), Adam per
/// stage with RVM's per-module learning rates, global gradient-norm clipping, atomic checkpoints every
/// N steps and on cancellation, and a resume that continues bit-identically: clip i of step s is a pure
/// function of (DataSeed, s·B + i), and the weights and Adam moments are restored exactly.
/// RVM's segmentation pass is not run: no segmentation data exists on these machines.
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly TrainingConfig _config;
    private readonly RunFolder _run;
    private readonly MediaLibrary? _media;
    private MattingNetwork? _network;
    private MattingNetwork? _teacher;
    private string? _recovered;   // what RecoverInterruptedSave did on resume, for events.log
    private string? _continuedFrom;   // the run pack RunFrom started from, for events.log

    public Trainer(TrainingConfig config, string runDirectory, MediaLibrary? media = null)
    {
        config.Validate();
        _config = config;
        _run = new RunFolder(runDirectory);
        _media = media;
    }

    /// <summary>The network being trained (after <see cref="Run"/> started).</summary>
    public MattingNetwork Network => _network ?? throw new InvalidOperationException("training has not started");

    /// <summary>
    /// Continues, in this run folder (which must hold no checkpoint), the run that <paramref name="pack"/> holds
    /// (<see cref="RunPack"/>): its weights, step count and logs, with Adam's moments restarted.
    /// </summary>
    public string RunFrom(string pack, CancellationToken cancel = default, Action<StepReport>? progress = null)
    {
        int steps = RunPack.Unpack(pack, _run, NetworkConfig);
        _continuedFrom = $"continued from the run pack {Path.GetFullPath(pack)} at step {steps} (its weights rounded to float16)";
        return Run(resume: true, cancel, progress);
    }

    private ModelConfig NetworkConfig => ModelConfig.For(_config.Family, _config.FullPrecision) with { Normalization = _config.Normalization, DecoderChannels = _config.DecoderChannels };

    /// <summary>Runs (or, with <paramref name="resume"/>, continues) to the last step; returns the final weights' path.</summary>
    public string Run(bool resume, CancellationToken cancel = default, Action<StepReport>? progress = null)
    {
        SeedAndSetThreads();
        _network = ModelFactory.Create(NetworkConfig);
        var state = StartOrResume(resume);
        _run.WriteConfig(_config);
        var log = new TrainingLog(_run, state.StepsDone);
        log.Note($"LibTorch convolutions: {LibTorchNumerics.Verdict.Describe()}");
        if (_recovered is not null) log.Note(_recovered);
        if (_continuedFrom is not null) log.Note(_continuedFrom);
        if (InitialWeights is { } initial) NoteInitialWeights(log, initial);
        if (state.StepsDone == 0 && _config.BinarizeSteps > 0)
            log.Note($"progressive binarization over {_config.BinarizeSteps} steps: {ProgressiveBinarization.StartFromRelu(_network)} RPReLU slopes set to 0 (ReLU)");
        ProgressiveBinarization.Set(_network, _config.BinarizationAt(state.StepsDone));   // before the calibration: τ from the 32-bit activations
        if (state.StepsDone == 0) Calibrate(log);
        if (_config.Stages.Any(s => s.Lbm)) _teacher = LoadTeacher(_config.Teacher!);
        TrainRecoveringFromLibTorchErrors(state, log, cancel, progress);
        ProgressiveBinarization.Set(_network, 1);   // what the final weights are read as (every step after binarizeSteps was)
        _run.SaveFinal(_network);
        return _run.FinalWeights;
    }

    /// <summary>First, before any tensor exists: the initial weights are a pure function of the config's seed.</summary>
    private void SeedAndSetThreads()
    {
        if (_config.Threads > 0) torch.set_num_threads(_config.Threads);
        torch.manual_seed(_config.Seed);
    }

    /// <summary>
    /// A run folder with a checkpoint is continued only when asked (so that a repeated command never silently
    /// extends a finished run); a fresh run may start from other weights (<see cref="TrainingConfig.InitFrom"/>).
    /// </summary>
    private TrainingState StartOrResume(bool resume)
    {
        var network = Network;
        if (resume) _recovered = _run.RecoverInterruptedSave();
        if (_run.HasCheckpoint)
        {
            if (!resume) throw new UserInputException($"{_run.Root} already holds a checkpoint: pass --resume to continue it, or choose another run folder");
            _run.LoadWeights(network);
            return _run.LoadState();
        }
        if (resume) throw new UserInputException($"{_run.Root}: no checkpoint to resume");
        if (_config.InitFrom is { } init) InitialWeights = CopyMatching(init, network);
        return new TrainingState(0, 0);
    }

    private void NoteInitialWeights(TrainingLog log, (int Copied, IReadOnlyList<string> Kept) initial) =>
        log.Note($"initialized from {_config.InitFrom}: {initial.Copied} tensors copied, {initial.Kept.Count} kept at their initial values ({string.Join(", ", initial.Kept.Take(8))}{(initial.Kept.Count > 8 ? ", …" : "")})");

    /// <summary>
    /// Before the first step, on its clips (so that a run stays a pure function of its config): the thresholds τ
    /// (<see cref="TrainingConfig.CalibrateThresholds"/>), then, with progressive binarization, the gains on the same
    /// clips with the network at β = 0 (<see cref="ProgressiveBinarization.CalibrateGains"/>).
    /// </summary>
    private void Calibrate(TrainingLog log)
    {
        bool gains = _config.BinarizeSteps > 0;
        if (!_config.CalibrateThresholds && !gains) return;
        var network = Network;
        using var scope = NewDisposeScope();
        var first = _config.Stages[0];
        var batch = ClipBatch.From(Fetch(Generator(first), first, 0));
        network.eval();   // no running statistics updated by the calibration passes
        void Forward() => network.call(batch.Src, null, first.DownsampleRatio);
        if (_config.CalibrateThresholds)
            log.Note($"thresholds τ of {ThresholdCalibration.Calibrate(network, Forward)} binary convs set to the median of their inputs on step 1's clips");
        if (gains)
            log.Note($"gains of {ProgressiveBinarization.CalibrateGains(network, Forward)} binary convs set to the RMS ratio of their 32-bit and 1-bit outputs on step 1's clips");
    }

    /// <summary>
    /// LibTorch can report an impossible internal state (e.g. an integer tensor handed a float alpha inside
    /// BatchNorm): TorchSharp frees the Scalars of implicit conversions from the GC's finalizer thread
    /// (dotnet/TorchSharp#1496), a race we cannot close from here. The step is redone from the last checkpoint,
    /// which resume makes exact.
    /// </summary>
    private void TrainRecoveringFromLibTorchErrors(TrainingState state, TrainingLog log, CancellationToken cancel, Action<StepReport>? progress)
    {
        var network = Network;
        network.train();
        for (int recoveries = 0; ; recoveries++)
        {
            try
            {
                TrainStages(state, log, cancel, progress);
                return;
            }
            catch (ExternalException e) when (recoveries < MaxRecoveries && _run.HasCheckpoint)
            {
                state = _run.LoadState();
                _run.LoadWeights(network);
                log = new TrainingLog(_run, state.StepsDone);
                log.Note($"step {state.StepsDone + 1}: LibTorch error, redone from the checkpoint: {e.Message.Split('\n')[0]}");
            }
        }
    }

    /// <summary>With <see cref="TrainingConfig.InitFrom"/>: how many tensors were copied, and the names left at their initial values.</summary>
    public (int Copied, IReadOnlyList<string> Kept)? InitialWeights { get; private set; }

    /// <summary>Copies every tensor of the checkpoint at <paramref name="weights"/> whose name and shape match into <paramref name="network"/>.</summary>
    internal static (int Copied, IReadOnlyList<string> Kept) CopyMatching(string weights, MattingNetwork network)
    {
        if (!File.Exists(weights)) throw new UserInputException($"initFrom: {weights} not found");
        using var source = ModelCheckpoint.Load(weights);
        var from = source.state_dict();
        int copied = 0;
        var kept = new List<string>();
        using (no_grad())
        {
            foreach (var (name, tensor) in network.state_dict())
            {
                if (from.TryGetValue(name, out var value) && value.shape.SequenceEqual(tensor.shape) && value.dtype == tensor.dtype)
                {
                    tensor.copy_(value);
                    copied++;
                }
                else kept.Add(name);
            }
        }
        if (copied == 0) throw new UserInputException($"initFrom: no tensor of {weights} matches this network");
        return (copied, kept);
    }

    /// <summary>Called with the 0-based step before it runs; tests use it to inject a LibTorch failure.</summary>
    internal Action<int>? BeforeStep { get; set; }

    /// <summary>At most this many steps are redone after a transient LibTorch error, per run.</summary>
    private const int MaxRecoveries = 5;

    private void TrainStages(TrainingState state, TrainingLog log, CancellationToken cancel, Action<StepReport>? progress)
    {
        var network = Network;
        var clock = Stopwatch.StartNew();
        var (stageIndex, stepInStage) = TrainingState.Locate(_config, state.StepsDone);
        for (; stageIndex < _config.Stages.Count; stageIndex++, stepInStage = 0)
        {
            var stage = _config.Stages[stageIndex];
            using var optimizer = CreateOptimizer(network, stage.LearningRates);
            var baseRates = optimizer.ParamGroups.Select(g => g.LearningRate).ToArray();   // before a resume overwrites them
            if (stepInStage > 0 && _run.HasOptimizerState) _run.LoadOptimizer(optimizer);
            else if (stepInStage > 0) log.Note($"Adam's moments restarted at step {state.StepsDone}: the checkpoint came from a run pack, which carries the weights only");
            var generator = Generator(stage);
            for (int i = stepInStage; i < stage.Steps; i++)
            {
                int step = state.StepsDone;   // 0-based global step
                // Clips are made on this thread, not prefetched on another: a second thread allocating during
                // LibTorch calls widens the Scalar race of TrainRecoveringFromLibTorchErrors (~2 % of a step).
                var clips = Fetch(generator, stage, step);
                BeforeStep?.Invoke(step);
                // Set every step (and after a resume, whose loaded state carries the old rates).
                double rateScale = stage.RateScaleAt(i);
                double binarization = _config.BinarizationAt(step);
                ProgressiveBinarization.Set(network, binarization);
                foreach (var (group, rate) in optimizer.ParamGroups.Zip(baseRates)) group.LearningRate = rate * rateScale;
                var losses = Step(stage, optimizer, clips);
                losses["lr_scale"] = rateScale;
                if (_config.BinarizeSteps > 0) losses["binarization"] = binarization;
                state = new TrainingState(step + 1, state.Seconds + clock.Elapsed.TotalSeconds);
                clock.Restart();
                var report = new StepReport(step + 1, _config.TotalSteps, stage.Name, losses, state.Seconds);
                log.Append(report);
                progress?.Invoke(report);
                bool stageEnd = i + 1 == stage.Steps;
                if (stageEnd || state.StepsDone % _config.CheckpointEvery == 0 || cancel.IsCancellationRequested)
                    _run.Save(network, optimizer, state);
                cancel.ThrowIfCancellationRequested();
            }
        }
    }

    private ClipGenerator Generator(StageConfig stage) =>
        new(_config.ClipsFor(stage), DataSplit.Training, _media);

    private List<Clip> Fetch(ClipGenerator generator, StageConfig stage, int step) =>
        Enumerable.Range(0, stage.BatchSize).Select(b => generator.Generate(_config.DataSeed, (long)step * stage.BatchSize + b)).ToList();

    private Dictionary<string, double> Step(StageConfig stage, OptimizerHelper optimizer, List<Clip> clips)
    {
        using var scope = NewDisposeScope();
        var network = Network;
        var batch = ClipBatch.From(clips);
        var output = network.call(batch.Src, null, stage.DownsampleRatio);
        var (loss, logged) = MattingTerms(output, batch);

        if (network is Bivm bivm && !_config.FullPrecision && _config.LambdaEbb > 0)
        {
            var ebb = bivm.EbbRegularizer();
            logged["ebb"] = ebb.item<float>();
            loss = loss + _config.LambdaEbb * ebb;
        }
        if (stage.Lbm)
        {
            var (lbm, pairwise) = Mimic(batch.Src, output, stage.DownsampleRatio);
            logged["lbm"] = lbm.item<float>();
            loss = loss + _config.LambdaLbm * lbm;
            if (pairwise is not null)
            {
                logged["pairwise"] = pairwise.item<float>();
                loss = loss + _config.LambdaPairwise * pairwise;
            }
        }

        optimizer.zero_grad();
        loss.backward();
        var parameters = network.parameters().Where(p => p.requires_grad).ToList();
        double norm = _config.GradientClip > 0
            ? nn.utils.clip_grad_norm_(parameters, _config.GradientClip)
            : GradNorm(parameters);
        logged["grad_norm"] = norm;
        if (!double.IsFinite(loss.item<float>()))
            throw new InvalidOperationException($"loss became {loss.item<float>()} (terms: {string.Join(", ", logged.Select(kv => $"{kv.Key} {kv.Value:G4}"))})");
        optimizer.step();
        logged["total"] = loss.item<float>();
        return logged;
    }

    /// <summary>
    /// L^M on the composites, plus λ_teacher times the alpha part of L^M on the teacher clips (no foreground
    /// exists for them), each a mean over its own clips and weighted by its share of the batch, so that a batch
    /// of one clip is L^M or λ_teacher·L^M_α.
    /// </summary>
    private (Tensor Loss, Dictionary<string, double> Logged) MattingTerms(MattingOutput output, ClipBatch batch)
    {
        int count = batch.TeacherOnly.Count;
        var composites = Enumerable.Range(0, count).Where(i => !batch.TeacherOnly[i]).Select(i => (long)i).ToArray();
        var teachers = Enumerable.Range(0, count).Where(i => batch.TeacherOnly[i]).Select(i => (long)i).ToArray();
        if (teachers.Length == 0)
        {
            var terms = MattingLoss.Compute(output.Fgr, output.Pha, batch.Fgr, batch.Pha);
            return (terms.Total, new Dictionary<string, double>(terms.ToDictionary()));
        }
        Tensor Pick(Tensor t, long[] rows) => rows.Length == count ? t : t.index_select(0, tensor(rows));
        var logged = new Dictionary<string, double>();
        Tensor? loss = null;
        if (composites.Length > 0)
        {
            var terms = MattingLoss.Compute(Pick(output.Fgr, composites), Pick(output.Pha, composites), Pick(batch.Fgr, composites), Pick(batch.Pha, composites));
            foreach (var (key, value) in terms.ToDictionary()) logged[key] = value;
            loss = terms.Total * ((double)composites.Length / count);
        }
        // Only the alpha terms: the foreground terms would pull the colour towards the zeros standing in for it.
        var alpha = MattingLoss.Compute(Pick(output.Fgr, teachers), Pick(output.Pha, teachers), Pick(batch.Fgr, teachers), Pick(batch.Pha, teachers));
        var teacher = alpha.PhaL1 + alpha.PhaLaplacian + alpha.PhaCoherence;
        logged["teacher_pha"] = teacher.item<float>();
        var weighted = teacher * (_config.Data.TeacherWeight * teachers.Length / count);
        return (loss is null ? weighted : loss + weighted, logged);
    }

    /// <summary>
    /// L_LBM between this network's encoder features and the teacher's (eq. 20), on the student's SHB mask. A network
    /// without SHB (RVM-ReActNet mimicking the published RVM, whose MobileNetV3 it shares layer for layer) mimics
    /// everywhere: there is no incoherent region to localize to, and every position of every feature is the
    /// teacher's knowledge. With <see cref="TrainingConfig.LambdaPairwise"/>, also the pair-wise term at 1/8 and 1/16
    /// (<see cref="PairwiseSimilarityLoss"/>), from the same pass of the teacher.
    /// </summary>
    private (Tensor Lbm, Tensor? Pairwise) Mimic(Tensor src, MattingOutput student, double downsampleRatio)
    {
        EncoderFeatures teacher;
        using (no_grad()) teacher = _teacher!.call(src, null, downsampleRatio).Features;
        var s = new[] { student.Features.F1, student.Features.F2, student.Features.F3, student.Features.F4 };
        var t = new[] { teacher.F1, teacher.F2, teacher.F3, teacher.F4 };
        long[] scale = [8, 4, 2, 1];   // from 1/16 to 1/2, 1/4, 1/8, 1/16
        var masks = student.Mask is { } mask
            ? s.Select((f, i) => IncoherentMask.Upsample(mask, scale[i], f.shape[2], f.shape[3])).ToArray()
            : s.Select(f => ones(f.shape[0], 1, f.shape[2], f.shape[3], dtype: f.dtype)).ToArray();
        var pairwise = _config.LambdaPairwise > 0 ? PairwiseSimilarityLoss.Compute(s[2..], t[2..]) : null;
        return (LbmLoss.Compute(s, t, masks), pairwise);
    }

    private static double GradNorm(IEnumerable<Parameter> parameters)
    {
        double sum = 0;
        foreach (var p in parameters)
            if (p.grad is { } g) sum += g.square().sum().item<float>();
        return Math.Sqrt(sum);
    }

    /// <summary>Adam with one group per RVM module group; groups with learning rate 0 are frozen (left out).</summary>
    internal static Adam CreateOptimizer(MattingNetwork network, LearningRates rates)
    {
        var groups = new Dictionary<double, List<Parameter>>();
        foreach (var (name, parameter) in network.named_parameters())
        {
            double lr = name.Split('.')[0] switch
            {
                "backbone" => rates.Backbone,
                "aspp" => rates.Aspp,
                "refiner" => rates.Refiner,
                _ => rates.Decoder,   // decoder, project_mat, project_seg
            };
            if (lr <= 0) continue;
            if (!groups.TryGetValue(lr, out var list)) groups[lr] = list = [];
            list.Add(parameter);
        }
        if (groups.Count == 0) throw new InvalidOperationException("every learning rate is 0: nothing to train");
        return optim.Adam(groups.Select(g => new Adam.ParamGroup(g.Value, lr: g.Key)));
    }

    private static MattingNetwork LoadTeacher(string weights)
    {
        var teacher = ModelCheckpoint.Load(weights);
        teacher.eval();
        foreach (var p in teacher.parameters()) p.requires_grad = false;
        return teacher;
    }

    public void Dispose()
    {
        _network?.Dispose();
        _teacher?.Dispose();
    }
}
