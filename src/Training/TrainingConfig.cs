using System.Text.Json;
using System.Text.Json.Serialization;
using BiVM.Contracts;
using BiVM.Data.Synthesis;
using BiVM.Model;
using BiVM.Model.Binarization;
using BiVM.Model.Decoder;
using BiVM.Model.Losses;
using BiVM.Model.Networks;

namespace BiVM.Training;

/// <summary>Learning rates per module group (RVM's train.py: backbone, aspp, decoder + heads, refiner).</summary>
public sealed record LearningRates(double Backbone, double Aspp, double Decoder, double Refiner);

/// <summary>
/// One training stage (paper section 3.5.1, after RVM's four stages): a number of optimizer steps on
/// clips of one size and length, with its own learning rates. Each stage starts a fresh Adam, as
/// RVM's stages are separate runs.
/// </summary>
public sealed record StageConfig
{
    public string Name { get; init; } = "stage";
    public int Steps { get; init; }
    public int Width { get; init; } = 256;
    public int Height { get; init; } = 144;
    public int Frames { get; init; } = 8;
    public int BatchSize { get; init; } = 1;

    /// <summary>1 trains without the Deep Guided Filter; below 1 the network runs at that scale and the DGF refines.</summary>
    public double DownsampleRatio { get; init; } = 1;

    public LearningRates LearningRates { get; init; } = new(1e-4, 2e-4, 2e-4, 0);

    /// <summary>
    /// The rates at the stage's last step as a multiple of <see cref="LearningRates"/>, reached linearly
    /// from the first step (1: constant). Binary networks are trained with rates decaying towards 0
    /// (ReActNet, Bi-Real Net): a high rate flips latent weights early, a low one lets the signs settle.
    /// </summary>
    public double FinalRateScale { get; init; } = 1;

    /// <summary>The multiple of <see cref="LearningRates"/> used at 0-based step <paramref name="stepInStage"/>.</summary>
    public double RateScaleAt(int stepInStage) =>
        Steps <= 1 ? 1 : 1 + (FinalRateScale - 1) * stepInStage / (Steps - 1);

    /// <summary>Add λ_LBM·L_LBM (eq. 21) against the teacher: the paper does so in the first stage.</summary>
    public bool Lbm { get; init; }
}

/// <summary>
/// Where a run's clips come from besides the generated figures over the catalogue's backgrounds (the default):
/// the people bank's real-person cut-outs (docs/people.md), a matting data set in RVM's layouts
/// (VideoMatte240K-style clip folders of fgr/ and pha/ frames or videos, image-matting fgr/ + pha/ pairs), a
/// folder of background images and videos. The fractions are per clip; what they leave is generated figures.
/// </summary>
public sealed record DataSources
{
    /// <summary>Fraction of clips whose foreground is a real person from the people bank (training split only).</summary>
    public double RealPeople { get; init; }

    /// <summary>A real-people clip shows 1 to this many cut-outs (<see cref="ClipOptions.MaxPeople"/>; default 1).</summary>
    public int MaxPeople { get; init; } = 1;

    /// <summary>Probability that a cut-out is cropped to part of its body (<see cref="ClipOptions.PartialPeople"/>).</summary>
    public double PartialPeople { get; init; }

    /// <summary>
    /// Fraction of clips that are real frames with the teacher's soft alpha as their only target
    /// (<see cref="ClipOptions.TeacherFrames"/>: vtest.avi's pedestrians, crowded training photos; docs/people.md).
    /// Their loss is the alpha part of L^M (L1, Laplacian, coherence) times <see cref="TeacherWeight"/>.
    /// </summary>
    public double TeacherFrames { get; init; }

    /// <summary>
    /// λ_teacher: the weight of a teacher clip's alpha loss against the composites' L^M, as eq. 21 weights L_LBM
    /// against L^M. Below 1 because the target is the teacher's guess, not a ground truth.
    /// </summary>
    public double TeacherWeight { get; init; } = 0.5;

    /// <summary>A matting data set folder for <see cref="MatteForegrounds"/>; relative paths are relative to the config file.</summary>
    public string? MatteData { get; init; }

    /// <summary>Fraction of clips whose foreground comes from <see cref="MatteData"/>.</summary>
    public double MatteForegrounds { get; init; }

    /// <summary>A folder of background images, videos and frame folders used instead of the catalogue's; relative to the config file.</summary>
    public string? BackgroundData { get; init; }
}

/// <summary>A whole training run: model family, data seeds, stages. Stored as JSON under configs/.</summary>
public sealed record TrainingConfig
{
    public ModelFamily Family { get; init; } = ModelFamily.Bivm;

    /// <summary>The network's normalization (<see cref="ModelConfig.Normalization"/>), recorded in its model.json.</summary>
    public BatchNormMode Normalization { get; init; } = BatchNormMode.Batch;

    /// <summary>BiVM only: train the full-precision counterpart (the LBM teacher).</summary>
    public bool FullPrecision { get; init; }

    /// <summary>The decoder blocks' widths (<see cref="ModelConfig.DecoderChannels"/>), recorded in its model.json; RVM's by default.</summary>
    public IReadOnlyList<long> DecoderChannels { get; init; } = DecoderPlan.RvmBlockChannels;

    /// <summary>Seeds the weight initialisation.</summary>
    public long Seed { get; init; } = 1;

    /// <summary>Names the training data set: clip i of step s is a pure function of (DataSeed, s·B + i).</summary>
    public long DataSeed { get; init; } = 1000;

    /// <summary>Global gradient-norm clip (0: none).</summary>
    public double GradientClip { get; init; } = 1.0;

    public int CheckpointEvery { get; init; } = 100;

    /// <summary>λ_EBB of eq. 18 (BiVM only).</summary>
    public double LambdaEbb { get; init; } = 1e-4;

    /// <summary>λ_LBM of eq. 21.</summary>
    public double LambdaLbm { get; init; } = LbmLoss.DefaultWeight;

    /// <summary>
    /// λ of pair-wise distillation (<see cref="PairwiseSimilarityLoss"/>) against the teacher at the encoder's 1/8 and 1/16
    /// features, in the stages with <c>lbm</c>, beside LBM (0, the default: none). For a teacher of another architecture,
    /// whose channels LBM cannot compare (BiVM against the published RVM).
    /// </summary>
    public double LambdaPairwise { get; init; }

    /// <summary>Weights (model.bin with its model.json) of the full-precision teacher for LBM; relative paths are relative to the config file.</summary>
    public string? Teacher { get; init; }

    /// <summary>
    /// Weights (model.bin with its model.json) that initialize the network: every tensor whose name and shape
    /// match is copied (a 1-bit network from its trained 32-bit counterpart: the latent weights start at the
    /// 32-bit ones, τ and the rest at their initial values). The paper gives every 1-bit network a binary
    /// pre-training phase (200 ImageNet epochs); from scratch our 1-bit runs did not leave "all background"
    /// in 300-560 steps. Relative paths are relative to the config file.
    /// </summary>
    public string? InitFrom { get; init; }

    /// <summary>Torch intra-op threads (0: LibTorch's default).</summary>
    public int Threads { get; init; }

    /// <summary>
    /// 1-bit networks: before the first step, set every activation threshold τ to the median of its input
    /// on the first step's clips (<see cref="ThresholdCalibration"/>).
    /// </summary>
    public bool CalibrateThresholds { get; init; }

    /// <summary>
    /// 1-bit networks started from 32-bit weights (<see cref="InitFrom"/>): binarize them gradually over the run's first
    /// N steps (<see cref="ProgressiveBinarization"/>; 0, the default: 1-bit from the first step). β at 0-based step s is
    /// (s/N)², slow at first, where the 32-bit function is most fragile (3 % of 1-bit conv in every layer moved the
    /// published RVM's real-people MAD from 47 to 84, 10 % to 230, untrained). The RPReLU slopes start at 0 (ReLU) and
    /// the thresholds τ are calibrated on the 32-bit network's activations.
    /// </summary>
    public int BinarizeSteps { get; init; }

    /// <summary>β of progressive binarization at 0-based global <paramref name="step"/> (1 when <see cref="BinarizeSteps"/> is 0).</summary>
    public double BinarizationAt(int step) => Math.Pow(ProgressiveBinarization.At(step, BinarizeSteps), 2);

    /// <summary>Where the clips come from (default: generated figures only, as every config before the people bank).</summary>
    public DataSources Data { get; init; } = new();

    public IReadOnlyList<StageConfig> Stages { get; init; } = [];

    public int TotalSteps => Stages.Sum(s => s.Steps);

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        // A misspelt or unknown key fails the load instead of silently training something else.
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static TrainingConfig Load(string path)
    {
        if (!File.Exists(path)) throw new UserInputException($"{path}: training configuration not found");
        TrainingConfig config;
        try
        {
            config = JsonSerializer.Deserialize<TrainingConfig>(File.ReadAllText(path), Json)
                ?? throw new UserInputException($"{path}: empty training configuration");
        }
        catch (JsonException e)
        {
            throw new UserInputException($"{path}: not a valid training configuration: {e.Message}", e);
        }
        string configDir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (config.Teacher is { } teacher && !Path.IsPathRooted(teacher))
            config = config with { Teacher = Path.GetFullPath(Path.Combine(configDir, teacher)) };
        if (config.InitFrom is { } init && !Path.IsPathRooted(init))
            config = config with { InitFrom = Path.GetFullPath(Path.Combine(configDir, init)) };
        string? Resolve(string? folder) => folder is null || Path.IsPathRooted(folder) ? folder : Path.GetFullPath(Path.Combine(configDir, folder));
        config = config with { Data = config.Data with { MatteData = Resolve(config.Data.MatteData), BackgroundData = Resolve(config.Data.BackgroundData) } };
        config.Validate(path);
        return config;
    }

    public void Validate(string source = "training configuration")
    {
        if (Stages.Count == 0) throw new UserInputException($"{source}: no stages");
        if (FullPrecision && Family != ModelFamily.Bivm) throw new UserInputException($"{source}: fullPrecision applies to bivm only");
        if (CheckpointEvery < 1) throw new UserInputException($"{source}: checkpointEvery must be ≥ 1");
        if (Normalization == BatchNormMode.Running) throw new UserInputException($"{source}: normalization must be batch, frame or fixed");
        if (DecoderPlan.BlockChannelsProblem(DecoderChannels) is { } widths) throw new UserInputException($"{source}: {widths}");
        if (!(LambdaPairwise >= 0 && double.IsFinite(LambdaPairwise))) throw new UserInputException($"{source}: lambdaPairwise = {LambdaPairwise}: must be ≥ 0");
        if (LambdaPairwise > 0 && !Stages.Any(s => s.Lbm)) throw new UserInputException($"{source}: lambdaPairwise needs a stage with lbm (its teacher's features)");
        if (BinarizeSteps != 0)
        {
            if (Family == ModelFamily.Rvm || FullPrecision) throw new UserInputException($"{source}: binarizeSteps applies to the 1-bit networks only");
            if (InitFrom is null) throw new UserInputException($"{source}: binarizeSteps needs initFrom (the 32-bit weights to start from)");
            if (BinarizeSteps < 0 || BinarizeSteps >= TotalSteps)
                throw new UserInputException($"{source}: binarizeSteps = {BinarizeSteps}: must be in [0, {TotalSteps}) so that the run ends 1-bit");
        }
        for (int i = 0; i < Stages.Count; i++)
        {
            var s = Stages[i];
            string where = $"{source}: stage {i + 1} ('{s.Name}')";
            if (s.Steps < 1) throw new UserInputException($"{where}: steps must be ≥ 1");
            if (s.Width < 64 || s.Height < 64) throw new UserInputException($"{where}: {s.Width}×{s.Height} is too small (the Laplacian loss needs ≥ 64×64)");
            if (s.Frames < 1 || s.BatchSize < 1) throw new UserInputException($"{where}: frames and batchSize must be ≥ 1");
            if (!(s.DownsampleRatio > 0 && s.DownsampleRatio <= 1)) throw new UserInputException($"{where}: downsampleRatio must be in (0, 1]");
            if (!(s.FinalRateScale >= 0 && s.FinalRateScale <= 1)) throw new UserInputException($"{where}: finalRateScale must be in [0, 1]");
            if (s.Lbm && Teacher is null) throw new UserInputException($"{where}: lbm needs a teacher");
            if (s.Lbm && Family == ModelFamily.Rvm) throw new UserInputException($"{where}: lbm applies to the 1-bit families and bivm's 32-bit counterpart, not to rvm");
        }
        try
        {
            ClipsFor(Stages[0]).Validate();
        }
        catch (ArgumentException e)
        {
            // ClipOptions names the field; one line in our words, without .NET's "(Parameter …)" suffix.
            string reason = e.Message.Split('\n')[0].Replace($" (Parameter '{e.ParamName}')", "");
            string value = e is ArgumentOutOfRangeException { ActualValue: { } actual } ? $" = {actual}" : "";
            throw new UserInputException($"{source}: data: {e.ParamName}{value}: {reason}");
        }
        if (!(Data.TeacherWeight >= 0 && double.IsFinite(Data.TeacherWeight))) throw new UserInputException($"{source}: data: teacherWeight = {Data.TeacherWeight}: must be ≥ 0");
        foreach (var folder in new[] { Data.MatteData, Data.BackgroundData })
            if (folder is not null && !Directory.Exists(folder)) throw new UserInputException($"{source}: data: folder {folder} not found");
    }

    /// <summary>The clip generator's options for <paramref name="stage"/>: its size and length, and <see cref="Data"/>.</summary>
    public ClipOptions ClipsFor(StageConfig stage) => new()
    {
        Frames = stage.Frames, Width = stage.Width, Height = stage.Height,
        RealPeople = Data.RealPeople, MaxPeople = Data.MaxPeople, PartialPeople = Data.PartialPeople, TeacherFrames = Data.TeacherFrames,
        MatteData = Data.MatteData, MatteForegrounds = Data.MatteForegrounds, BackgroundData = Data.BackgroundData,
    };
}
