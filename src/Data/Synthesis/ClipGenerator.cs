using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BiVM.Data.Media;
using BiVM.Data.People;
using OpenCvSharp;

namespace BiVM.Data.Synthesis;

/// <summary>
/// Composites clips from generated person-like foregrounds with exact alpha (or, when the options
/// ask for them, real-person cut-outs from the people bank or a matting data set's foregrounds)
/// over real photos and video, with RVM's motion and photometric augmentation. Clip <c>index</c> of <c>seed</c> is a pure
/// function of (seed, index, split, options): no state carries between clips, so a data set is
/// named by its seed, a stream can resume at any index, and threads may generate clips in parallel.
/// </summary>
public sealed partial class ClipGenerator
{
    private static readonly double[] VideoSpeeds = [0.5, 1, 2, 3, 4, 5]; // RVM's TrainFrameSampler

    private readonly MediaLibrary _library;
    private readonly IReadOnlyList<MediaFile> _photos, _videos, _textures;
    private readonly PeopleBank? _people;

    public ClipGenerator(ClipOptions options, DataSplit split, MediaLibrary? library = null)
    {
        options.Validate();
        Options = options;
        Split = split;
        _library = library ?? MediaLibrary.Default;
        // Backgrounds never show real people, in either split: a real person behind the figure
        // would be labelled background (alpha 0) and make the ground truth ambiguous. Validation may
        // use the reserved real-people photos as clothing textures, appearance training never saw.
        _photos = MediaCatalog.For(split, MediaKind.Photo).Where(f => f.Use == MediaUse.TrainingAndValidation).ToArray();
        _videos = MediaCatalog.For(split, MediaKind.Video).Where(f => f.Use == MediaUse.TrainingAndValidation).ToArray();
        _textures = MediaCatalog.For(split, MediaKind.Photo).Where(f => f.Use != MediaUse.HeldOutBackground).ToArray();
        if (options.HeldOutBackgrounds)
        {
            if (split == DataSplit.Training) throw new ArgumentException("HeldOutBackgrounds is for the validation split only: training must never see them.", nameof(options));
            _photos = MediaCatalog.For(split, MediaKind.Photo).Where(f => f.Use == MediaUse.HeldOutBackground).ToArray();
            _videos = [];
        }
        _library.Locator.RequireAll(Sources);
        CutOuts = [];
        OpenMattingData(options, out _mattes, out _backgroundData);
        if (options.TeacherFrames > 0)
        {
            if (split != DataSplit.Training) throw new ArgumentException("TeacherFrames is for the training split only: its frames are training sources.", nameof(options));
            _teacherFrames = TeacherFrames.Open(TeacherFrames.DirectoryFor(_library.Locator));
        }
        if (options.RealPeople > 0)
        {
            _people = PeopleBank.Open(PeopleBank.DirectoryFor(_library.Locator));
            CutOuts = _people.For(split);
            if (CutOuts.Count == 0) throw new MediaMissingException($"The people bank at {_people.Directory} has no {split} cut-outs; run scripts/fetch-people.sh.");
        }
    }

    /// <summary>The real-person cut-outs this generator may draw (empty unless <see cref="ClipOptions.RealPeople"/> &gt; 0): its split's only.</summary>
    public IReadOnlyList<CutOut> CutOuts { get; }

    public ClipOptions Options { get; }
    public DataSplit Split { get; }

    /// <summary>The real files this generator draws from (training excludes reserved real-people media; see the constructor).</summary>
    public IEnumerable<MediaFile> Sources => _photos.Concat(_videos).Concat(_textures).Distinct();

    /// <summary>Decodes every photo and video header this generator may use (a few seconds, once per process).</summary>
    public void Preload()
    {
        _library.Preload(Sources);
        _people?.Preload(CutOuts);
    }

    /// <summary>Clips index, index + 1, … of <paramref name="seed"/>, generated lazily one at a time; never ends unless <paramref name="count"/> is given.</summary>
    public IEnumerable<Clip> Stream(long seed, long startIndex = 0, long? count = null)
    {
        if (startIndex < 0) throw new ArgumentOutOfRangeException(nameof(startIndex), startIndex, "must be ≥ 0");
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "must be ≥ 0");
        for (long i = startIndex; count is null || i < startIndex + count; i++)
            yield return Generate(seed, i);
    }

    /// <summary>
    /// The same clips as <see cref="Stream"/>, in the same order, generated ahead on
    /// <paramref name="workers"/> thread-pool threads (at most <paramref name="workers"/> + 1 clips in
    /// memory). For a trainer that should not wait on data: the clips are bit-identical to the serial stream's.
    /// </summary>
    public IEnumerable<Clip> StreamParallel(long seed, int workers, long startIndex = 0, long? count = null)
    {
        if (workers < 1) throw new ArgumentOutOfRangeException(nameof(workers), workers, "must be ≥ 1");
        if (startIndex < 0) throw new ArgumentOutOfRangeException(nameof(startIndex), startIndex, "must be ≥ 0");
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "must be ≥ 0");
        return Iterate();

        IEnumerable<Clip> Iterate()
        {
            long end = count is null ? long.MaxValue : startIndex + count.Value;
            var pending = new Queue<Task<Clip>>();
            long next = startIndex;
            while (true)
            {
                while (pending.Count < workers && next < end)
                {
                    long index = next++;
                    pending.Enqueue(Task.Run(() => Generate(seed, index)));
                }
                if (pending.Count == 0) yield break;
                yield return pending.Dequeue().GetAwaiter().GetResult();
            }
        }
    }

    public Clip Generate(long seed, long index)
    {
        int T = Options.Frames, W = Options.Width, H = Options.Height;
        var rng = new SeededRandom(seed, index * 2 + (Split == DataSplit.Validation ? 1 : 0));
        var size = new Size(W, H);
        if (_teacherFrames is not null && rng.Chance(Options.TeacherFrames)) return TeacherClip(rng, seed, index);

        // Motions (RVM's MotionAugmentation order: foreground, background, shared camera, then static).
        var fgrMotion = rng.Chance(Options.ForegroundMotion) ? AffineMotion.Random(rng, W, H) : AffineMotion.None;
        var bgrMotion = rng.Chance(Options.BackgroundMotion / 2) ? AffineMotion.Random(rng, W, H) : AffineMotion.None;
        var sharedMotion = rng.Chance(Options.BackgroundMotion / 2) ? AffineMotion.Random(rng, W, H) : AffineMotion.None;
        var fgrStatic = AffineParams.Random(rng, W, H, 10, 0.1, 0.85, 1.1, 5).ToMatrix(W / 2.0, H / 2.0);
        var bgrStatic = AffineParams.Random(rng, W, H, 10, 0.1, 1.0, 1.5, 5).ToMatrix(W / 2.0, H / 2.0);

        var fgr = new Mat[T];
        var pha = new Mat[T];
        var bgr = new Mat[T];
        try
        {
            string background = Backgrounds(rng, size, bgr, out bool stillBackground);
            var previousBgrMap = Affine2.Identity;
            string foreground;
            using (var layer = Foreground(rng, out foreground))
            using (var canvasAlpha = new Mat())
            using (var canvasFgr = new Mat())
            {
                for (int t = 0; t < T; t++)
                {
                    layer.Render(t, canvasAlpha, canvasFgr);
                    var shared = sharedMotion.At(t, T).ToMatrix(W / 2.0, H / 2.0);
                    var toFrame = Affine2.Compose(fgrStatic, Affine2.Compose(shared, fgrMotion.At(t, T).ToMatrix(W / 2.0, H / 2.0)));
                    using var m = toFrame.ToMat();
                    pha[t] = new Mat();
                    fgr[t] = new Mat();
                    Cv2.WarpAffine(canvasAlpha, pha[t], m, size, InterpolationFlags.Linear, BorderTypes.Constant, Scalar.All(0));
                    Cv2.WarpAffine(canvasFgr, fgr[t], m, size, InterpolationFlags.Linear, BorderTypes.Replicate);

                    var bgrMap = Affine2.Compose(bgrStatic, Affine2.Compose(shared, bgrMotion.At(t, T).ToMatrix(W / 2.0, H / 2.0)));
                    if (stillBackground && t > 0 && bgrMap == previousBgrMap)
                    {
                        bgr[t - 1].CopyTo(bgr[t]); // a still photo under the same map: same frame, no warp
                    }
                    else
                    {
                        using var mb = bgrMap.ToMat();
                        Cv2.WarpAffine(bgr[t], bgr[t], mb, size, InterpolationFlags.Linear, BorderTypes.Reflect101);
                    }
                    previousBgrMap = bgrMap;
                }
            }

            var augmented = Augment(rng, fgr, pha, bgr);
            foreach (var a in pha) Augmentations.Clamp01(a); // bilinear, blur and sharpening can leave ±1 ulp or more

            string description = $"seed={seed} index={index} split={Split.ToString().ToLowerInvariant()} {foreground} " +
                                 $"background={background} aug=[{string.Join(',', augmented)}]";
            return Assemble(fgr, pha, bgr, description);
        }
        finally
        {
            foreach (var m in fgr.Concat(pha).Concat(bgr).Distinct()) m?.Dispose();
        }
    }

    /// <summary>
    /// The clip's foreground: a real person with probability <see cref="ClipOptions.RealPeople"/> (no
    /// random draw at all when it is 0, so older configs keep their clips), else a generated figure.
    /// </summary>
    private IForeground Foreground(SeededRandom rng, out string description)
    {
        int W = Options.Width, H = Options.Height;
        // One draw picks the source when any other than the figures is on (none when all are off).
        double u = _people is not null || _mattes.Count > 0 ? rng.NextDouble() : 1;
        if (u < Options.RealPeople) return People(rng, out description);
        if (u < Options.RealPeople + Options.MatteForegrounds)
        {
            var matte = rng.Choose(_mattes);
            var layer = MatteLayer(rng, matte, out string frames);
            description = $"matte={matte.Name}{frames}";
            return layer;
        }
        var figure = new PersonFigure(rng, W, H);
        var top = rng.Choose(_textures);
        var bottom = rng.Choose(_textures);
        description = $"gesture={figure.Gesture.ToString().ToLowerInvariant()} top={top.Id} bottom={bottom.Id}";
        return new ForegroundLayer(rng, figure, W, H, _library.Photo(top), _library.Photo(bottom));
    }

    /// <summary>
    /// One to <see cref="ClipOptions.MaxPeople"/> cut-outs, each cropped to part of its body with probability
    /// <see cref="ClipOptions.PartialPeople"/>. With both options at their defaults this draws exactly what one
    /// cut-out always drew (the real-people validation set depends on it).
    /// </summary>
    private IForeground People(SeededRandom rng, out string description)
    {
        int W = Options.Width, H = Options.Height;
        int count = Options.MaxPeople > 1 ? 1 + rng.NextInt(Options.MaxPeople) : 1;
        var layers = new List<(CutOutLayer Layer, double Area)>();
        var names = new List<string>();
        try
        {
            for (int k = 0; k < count; k++)
            {
                var cut = rng.Choose(CutOuts);
                var image = _people!.Image(cut);
                var edges = cut.Edges;
                string part = "";
                Mat? cropped = Options.PartialPeople > 0 && rng.Chance(Options.PartialPeople) ? CutOutLayer.PartialCrop(rng, image, ref edges, out part) : null;
                using (cropped)
                {
                    var layer = count > 1 ? new CutOutLayer(rng, cropped ?? image, edges, W, H, 0.15, 0.85) : new CutOutLayer(rng, cropped ?? image, edges, W, H);
                    layers.Add((layer, Cv2.Sum(layer.AlphaCanvas).Val0));
                }
                names.Add(part.Length == 0 ? cut.Id : $"{cut.Id}({part})");
            }
        }
        catch
        {
            foreach (var (layer, _) in layers) layer.Dispose();
            throw;
        }
        description = $"person={string.Join('+', names)}";
        if (layers.Count == 1) return layers[0].Layer;
        // The largest in front: it reads as the nearest, and a small person is never hidden behind a close-up.
        return new PeopleGroupLayer(layers.OrderBy(l => l.Area).Select(l => l.Layer).ToArray());
    }

    /// <summary>Fills <paramref name="bgr"/> with T unwarped background frames (float RGB, frame size); returns a description.</summary>
    private string Backgrounds(SeededRandom rng, Size size, Mat[] bgr, out bool still)
    {
        int T = bgr.Length;
        still = false;
        if (_backgroundData is not null) return FolderBackground(rng, size, bgr, out still);
        if (_videos.Count > 0 && rng.Chance(Options.VideoBackground))
        {
            var video = rng.Choose(_videos);
            int count = _library.FrameCount(video);
            var indices = SampleFrames(rng, T, count);
            var decoded = _library.VideoFrames(video, indices);
            try
            {
                var crop = CropRect(rng, decoded[0].Size(), size);
                for (int t = 0; t < T; t++) bgr[t] = ToFloatRgb(decoded[t], crop, size);
            }
            finally
            {
                foreach (var m in decoded) m.Dispose();
            }
            return $"{video.Id}[{indices[0]}..{indices[^1]}]";
        }
        still = true;
        var photo = rng.Choose(_photos);
        var image = _library.Photo(photo);
        using var frame = ToFloatRgb(image, CropRect(rng, image.Size(), size), size);
        for (int t = 0; t < T; t++) bgr[t] = frame.Clone();
        return photo.Id;
    }

    /// <summary>RVM's TrainFrameSampler: T frame indices at a random speed, shifted at random, reversed half the time.</summary>
    private static int[] SampleFrames(SeededRandom rng, int T, int count)
    {
        double speed = rng.Choose(VideoSpeeds);
        while (speed > 0.5 && (int)((T - 1) * speed) >= count) speed /= 2; // long clips from short videos
        var indices = Enumerable.Range(0, T).Select(i => Math.Min(count - 1, (int)(i * speed))).ToArray();
        int shift = rng.NextInt(Math.Max(1, count - indices[^1]));
        for (int i = 0; i < T; i++) indices[i] += shift;
        if (rng.Chance(0.5)) Array.Reverse(indices);
        return indices;
    }

    /// <summary>A crop with the output's aspect ratio × U(0.9, 1.1), covering 50–100 % of the fitting size, anywhere in the image.</summary>
    private static Rect CropRect(SeededRandom rng, Size source, Size output)
    {
        double aspect = output.Width / (double)output.Height * Math.Exp(rng.Uniform(Math.Log(0.9), Math.Log(1.1)));
        double w = source.Width, h = w / aspect;
        if (h > source.Height) { h = source.Height; w = h * aspect; }
        double f = rng.Uniform(0.5, 1.0);
        int cw = Math.Max(1, (int)(w * f)), ch = Math.Max(1, (int)(h * f));
        return new Rect(rng.NextInt(source.Width - cw + 1), rng.NextInt(source.Height - ch + 1), cw, ch);
    }

    private static Mat ToFloatRgb(Mat bgr8, Rect crop, Size size)
    {
        using var region = new Mat(bgr8, crop);
        using var resized = new Mat();
        var interpolation = crop.Width > size.Width ? InterpolationFlags.Area : InterpolationFlags.Linear;
        Cv2.Resize(region, resized, size, 0, 0, interpolation);
        Cv2.CvtColor(resized, resized, ColorConversionCodes.BGR2RGB);
        var result = new Mat();
        resized.ConvertTo(result, MatType.CV_32FC3, 1 / 255.0);
        return result;
    }

    private List<string> Augment(SeededRandom rng, Mat[] fgr, Mat[] pha, Mat[] bgr)
    {
        var applied = new List<string>();
        if (rng.Chance(Options.HorizontalFlip)) { Augmentations.HorizontalFlip(fgr, pha); applied.Add("fgr-flip"); }
        if (rng.Chance(Options.HorizontalFlip)) { Augmentations.HorizontalFlip(bgr); applied.Add("bgr-flip"); }
        if (rng.Chance(Options.Noise)) { Augmentations.Noise(rng, fgr, bgr); applied.Add("noise"); }
        if (rng.Chance(Options.ColorJitter)) { Augmentations.ColorJitter(rng, fgr); applied.Add("fgr-jitter"); }
        if (rng.Chance(Options.ColorJitter)) { Augmentations.ColorJitter(rng, bgr); applied.Add("bgr-jitter"); }
        if (rng.Chance(Options.Grayscale)) { Augmentations.Grayscale(fgr, bgr); applied.Add("gray"); }
        if (rng.Chance(Options.Sharpen)) { Augmentations.Sharpen(rng, fgr, pha, bgr); applied.Add("sharpen"); }
        if (rng.Chance(Options.Blur / 3)) { Augmentations.Blur(rng, fgr, pha); applied.Add("fgr-blur"); }
        if (rng.Chance(Options.Blur / 3)) { Augmentations.Blur(rng, bgr); applied.Add("bgr-blur"); }
        if (rng.Chance(Options.Blur / 3)) { Augmentations.Blur(rng, fgr, pha, bgr); applied.Add("blur"); }
        if (rng.Chance(Options.Pause)) { Augmentations.Pause(rng, fgr, pha, bgr); applied.Add("pause"); }
        return applied;
    }

    /// <summary>HWC float frames → planar [T,C,H,W] tensors, then src = fgr·pha + bgr·(1 − pha) element-wise.</summary>
    private static Clip Assemble(Mat[] fgr, Mat[] pha, Mat[] bgr, string description)
    {
        int T = fgr.Length, H = fgr[0].Rows, W = fgr[0].Cols, n = H * W;
        var clip = Clip.AllocateUninitialized(T, H, W, description);
        for (int t = 0; t < T; t++)
        {
            pha[t].AsSpan<float>().CopyTo(clip.Pha.AsSpan(t * n, n));
            for (int c = 0; c < 3; c++)
            {
                int o = (t * 3 + c) * n;
                ExtractPlane(fgr[t], c, clip.Fgr!, o);
                ExtractPlane(bgr[t], c, clip.Bgr!, o);
                Composite(clip.Fgr.AsSpan(o, n), clip.Bgr.AsSpan(o, n), clip.Pha.AsSpan(t * n, n), clip.Src.AsSpan(o, n));
            }
        }
        return clip;
    }

    /// <summary>The composite equation, the one place it is computed (tests recompute it bit-exactly).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Composite(float fgr, float bgr, float alpha) => fgr * alpha + bgr * (1 - alpha);

    /// <summary>
    /// <see cref="Composite(float, float, float)"/> over spans, SIMD where available: the vector
    /// multiply, subtract and add are IEEE per lane with no fused multiply-add, so lanes equal the scalar result bit for bit.
    /// </summary>
    public static void Composite(ReadOnlySpan<float> fgr, ReadOnlySpan<float> bgr, ReadOnlySpan<float> alpha, Span<float> src)
    {
        if (fgr.Length != src.Length || bgr.Length != src.Length || alpha.Length != src.Length)
            throw new ArgumentException($"Composite needs equal lengths, got fgr {fgr.Length}, bgr {bgr.Length}, alpha {alpha.Length}, src {src.Length}.");
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var one = Vector<float>.One;
            var f = MemoryMarshal.Cast<float, Vector<float>>(fgr);
            var b = MemoryMarshal.Cast<float, Vector<float>>(bgr);
            var a = MemoryMarshal.Cast<float, Vector<float>>(alpha);
            var s = MemoryMarshal.Cast<float, Vector<float>>(src);
            for (int v = 0; v < s.Length; v++) s[v] = f[v] * a[v] + b[v] * (one - a[v]);
            i = s.Length * Vector<float>.Count;
        }
        for (; i < src.Length; i++) src[i] = Composite(fgr[i], bgr[i], alpha[i]);
    }

    /// <summary>Copies channel c of an interleaved CV_32FC3 frame into tensor[offset..offset + H·W) via OpenCV, no managed per-pixel work.</summary>
    private static unsafe void ExtractPlane(Mat interleaved, int channel, float[] tensor, int offset)
    {
        fixed (float* target = &tensor[offset])
        {
            using var plane = Mat.FromPixelData(interleaved.Rows, interleaved.Cols, MatType.CV_32FC1, (IntPtr)target);
            Cv2.ExtractChannel(interleaved, plane, channel);
        }
    }
}
