namespace BiVM.Data.Synthesis;

/// <summary>
/// Clip size and augmentation probabilities. Defaults follow RVM's VideoMatte settings
/// (docs/rvm-architecture §8) except <see cref="ForegroundMotion"/>, which takes RVM's ImageMatte
/// value: our foregrounds, like ImageMatte's, are stills whose only own motion is the figure's limbs.
/// </summary>
public sealed record ClipOptions
{
    public int Frames { get; init; } = 15;
    public int Width { get; init; } = 256;
    public int Height { get; init; } = 144;

    /// <summary>Probability of a video background (else a still photo); RVM: 0.5.</summary>
    public double VideoBackground { get; init; } = 0.5;
    public double ForegroundMotion { get; init; } = 0.95;
    public double BackgroundMotion { get; init; } = 0.3;
    public double Noise { get; init; } = 0.1;
    public double ColorJitter { get; init; } = 0.3;
    public double Grayscale { get; init; } = 0.02;
    public double Sharpen { get; init; } = 0.1;
    public double Blur { get; init; } = 0.02;
    public double HorizontalFlip { get; init; } = 0.5;
    public double Pause { get; init; } = 0.03;

    /// <summary>
    /// Probability that a clip's foreground is a real person from the people bank (docs/people.md)
    /// instead of a generated figure. 0 (the default) never opens the bank, so configs without it
    /// generate exactly the clips they did before.
    /// </summary>
    public double RealPeople { get; init; }

    /// <summary>
    /// A real-people clip shows 1 to <see cref="MaxPeople"/> cut-outs (uniformly many), composited back to front,
    /// so that a run sees many more person instances per step. 1 (the default) draws no count, so older
    /// configs and the real-people validation set keep their clips.
    /// </summary>
    public int MaxPeople { get; init; } = 1;

    /// <summary>
    /// Probability that a cut-out is cropped to part of its body (upper body or head and shoulders, or a
    /// side of a group) before placement; the crop's edges become cut edges, placed beyond the frame like the
    /// photo's own. 0 (the default) draws nothing.
    /// </summary>
    public double PartialPeople { get; init; }

    /// <summary>
    /// Probability that a clip is real frames with the teacher's soft alpha as the only target (no composite,
    /// no foreground colour; People/TeacherFrames, docs/people.md). Training split only. 0 (the default) draws
    /// nothing and never opens the teacher frames.
    /// </summary>
    public double TeacherFrames { get; init; }

    /// <summary>
    /// A matting data set in RVM's layouts (IO/MattingDataset: VideoMatte240K frames or videos, image
    /// matting fgr/+pha/ pairs), for <see cref="MatteForegrounds"/>. Null: none.
    /// </summary>
    public string? MatteData { get; init; }

    /// <summary>Probability that a clip's foreground comes from <see cref="MatteData"/>; with <see cref="RealPeople"/> at most 1 in all; the rest are generated figures.</summary>
    public double MatteForegrounds { get; init; }

    /// <summary>A folder of background images, videos and frame folders (RVM's BackgroundImages/Videos) used instead of the catalogue's media. Null: the catalogue's.</summary>
    public string? BackgroundData { get; init; }

    /// <summary>Backgrounds from the held-out photos only (MediaUse.HeldOutBackground): the real-people validation set; validation split only.</summary>
    public bool HeldOutBackgrounds { get; init; }

    /// <summary>Throws naming the first invalid field.</summary>
    public void Validate()
    {
        if (Frames < 1) throw new ArgumentOutOfRangeException(nameof(Frames), Frames, "a clip needs at least 1 frame");
        if (Width < 16 || Height < 16) throw new ArgumentOutOfRangeException(nameof(Width), $"{Width}x{Height}", "frames must be at least 16x16");
        foreach (var (name, p) in new[]
        {
            (nameof(VideoBackground), VideoBackground), (nameof(ForegroundMotion), ForegroundMotion), (nameof(BackgroundMotion), BackgroundMotion),
            (nameof(Noise), Noise), (nameof(ColorJitter), ColorJitter), (nameof(Grayscale), Grayscale), (nameof(Sharpen), Sharpen),
            (nameof(Blur), Blur), (nameof(HorizontalFlip), HorizontalFlip), (nameof(Pause), Pause), (nameof(RealPeople), RealPeople), (nameof(MatteForegrounds), MatteForegrounds),
            (nameof(PartialPeople), PartialPeople), (nameof(TeacherFrames), TeacherFrames),
        })
        {
            if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(name, p, "a probability must be in [0, 1]");
        }
        if (RealPeople + MatteForegrounds > 1)
            throw new ArgumentOutOfRangeException(nameof(MatteForegrounds), MatteForegrounds, $"RealPeople + MatteForegrounds must be at most 1 (RealPeople is {RealPeople})");
        if (MatteForegrounds > 0 && string.IsNullOrEmpty(MatteData))
            throw new ArgumentException($"{nameof(MatteForegrounds)} is {MatteForegrounds} but no {nameof(MatteData)} folder is given.", nameof(MatteData));
        if (MaxPeople < 1 || MaxPeople > 8)
            throw new ArgumentOutOfRangeException(nameof(MaxPeople), MaxPeople, "must be 1 to 8");
        if (HeldOutBackgrounds && BackgroundData is not null)
            throw new ArgumentException($"{nameof(HeldOutBackgrounds)} and {nameof(BackgroundData)} both choose the backgrounds; give one.", nameof(BackgroundData));
    }
}
