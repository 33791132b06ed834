using BiVM.Data.Media;
using BiVM.Data.People;
using BiVM.Data.Synthesis;
using OpenCvSharp;

namespace BiVM.Data.Tests;

/// <summary>
/// The people bank's data side: cleaning and splitting on synthetic mattes, and clips with real
/// cut-outs from the bank that scripts/fetch-people.sh builds (./install.sh runs it; without it the
/// generator throws MediaMissingException naming the script, so these fail loudly, as TestMedia's do).
/// </summary>
public class PeopleTests
{
    private static readonly ClipOptions WithPeople = TestMedia.Small with { RealPeople = 1 };

    [Fact]
    public void Cleaning_removes_specks_and_their_haze_and_fills_small_holes_but_not_large_gaps()
    {
        using var alpha = new Mat(400, 400, MatType.CV_8UC1, Scalar.All(0));
        Cv2.Rectangle(alpha, new Rect(100, 50, 150, 300), Scalar.All(255), -1);       // a body
        Cv2.Rectangle(alpha, new Rect(150, 100, 6, 6), Scalar.All(0), -1);            // a small hole: 36 px < 0.4 % of 45000
        Cv2.Rectangle(alpha, new Rect(130, 200, 60, 60), Scalar.All(0), -1);          // a large enclosed gap (arm against the body): stays
        Cv2.Rectangle(alpha, new Rect(330, 330, 8, 8), Scalar.All(255), -1);          // a speck far away
        Cv2.Circle(alpha, new Point(334, 334), 20, Scalar.All(60), -1);               // its soft haze
        Cv2.Rectangle(alpha, new Rect(330, 330, 8, 8), Scalar.All(255), -1);
        Cv2.Rectangle(alpha, new Rect(250, 50, 3, 300), Scalar.All(100), -1);         // soft edge next to the body: stays

        using var clean = MatteCleaning.Clean(alpha);
        Assert.Equal(0, Cv2.CountNonZero(new Mat(clean, new Rect(300, 300, 100, 100))));
        Assert.Equal(255, clean.At<byte>(102, 152));
        Assert.Equal(0, clean.At<byte>(230, 160));
        Assert.Equal(100, clean.At<byte>(200, 251));
        Assert.Equal(255, clean.At<byte>(60, 110));
    }

    [Fact]
    public void Cleaning_keeps_background_seen_between_two_people()
    {
        using var alpha = new Mat(200, 300, MatType.CV_8UC1, Scalar.All(0));
        Cv2.Rectangle(alpha, new Rect(50, 20, 100, 160), Scalar.All(255), -1);
        Cv2.Rectangle(alpha, new Rect(152, 20, 100, 160), Scalar.All(255), -1);
        Cv2.Rectangle(alpha, new Rect(148, 100, 6, 2), Scalar.All(255), -1);  // hands touching...
        Cv2.Rectangle(alpha, new Rect(148, 110, 6, 2), Scalar.All(255), -1);  // ...enclose a tiny gap between two bodies
        using var clean = MatteCleaning.Clean(alpha);
        // One component now (touching hands), so the gap is "one body's" hole: small holes inside a body are filled.
        Assert.Equal(255, clean.At<byte>(106, 151));
        using var empty = new Mat(50, 50, MatType.CV_8UC1, Scalar.All(90)); // all haze, nothing confident
        using var none = MatteCleaning.Clean(empty);
        Assert.Equal(0, Cv2.CountNonZero(none));
    }

    [Fact]
    public void Extraction_splits_people_gives_soft_pixels_to_the_nearest_and_drops_tiny_ones()
    {
        using var bgr = new Mat(300, 400, MatType.CV_8UC3, new Scalar(0, 0, 255));   // red old background
        using var alpha = new Mat(300, 400, MatType.CV_8UC1, Scalar.All(0));
        Cv2.Rectangle(alpha, new Rect(40, 60, 80, 240), Scalar.All(255), -1);      // person A, cut by the bottom edge
        Cv2.Rectangle(bgr, new Rect(40, 60, 80, 240), new Scalar(255, 0, 0), -1);  // blue clothes
        Cv2.Rectangle(alpha, new Rect(250, 40, 90, 200), Scalar.All(255), -1);     // person B, whole
        Cv2.Rectangle(bgr, new Rect(250, 40, 90, 200), new Scalar(0, 255, 0), -1);
        Cv2.Rectangle(alpha, new Rect(120, 100, 4, 50), Scalar.All(128 - 40), -1); // soft edge of A
        Cv2.Rectangle(alpha, new Rect(200, 10, 20, 20), Scalar.All(255), -1);      // 20 px tall: dropped

        var cuts = CutOutExtraction.Split(bgr, alpha);
        try
        {
            Assert.Equal(2, cuts.Count);
            Assert.Equal(new Rect(40, 60, 84, 240), cuts[0].Box);   // A with its soft edge
            Assert.Equal(CutEdges.Bottom, cuts[0].Edges);
            Assert.Equal(new Rect(250, 40, 90, 200), cuts[1].Box);
            Assert.Equal(CutEdges.None, cuts[1].Edges);
            // The soft edge's colour is A's blue, spread by inpainting, not the old red background.
            var edge = cuts[0].Image.At<Vec4b>(60, 81);
            Assert.Equal(88, edge.Item3);
            Assert.True(edge.Item0 > 200 && edge.Item2 < 50, $"edge colour {edge} should be A's blue");
        }
        finally
        {
            foreach (var c in cuts) c.Dispose();
        }
    }

    [Fact]
    public void Splits_are_by_source_and_reserved_media_never_become_people()
    {
        var training = MediaCatalog.People.Where(p => p.Use == PeopleUse.Training).Select(p => p.Id).ToHashSet();
        var validation = MediaCatalog.People.Where(p => p.Use == PeopleUse.Validation).Select(p => p.Id).ToHashSet();
        Assert.NotEmpty(training);
        Assert.NotEmpty(validation);
        Assert.Equal(MediaCatalog.People.Count, training.Count + validation.Count); // ids unique, each in one split
        var reserved = MediaCatalog.All.Where(f => f.Use == MediaUse.ReservedRealPeople).Select(f => (f.Package, f.PathInPackage)).ToHashSet();
        Assert.DoesNotContain(MediaCatalog.People, p => reserved.Contains((p.Package, p.PathInPackage)));
        Assert.DoesNotContain(MediaCatalog.People, p => p.Package is "python3-skimage" or "python-matplotlib-data" or "labelme-examples"
                                                        || p.PathInPackage.Contains("/examples/data/"));
    }

    [Fact]
    public void Clips_with_cut_outs_are_valid_and_draw_training_people_only()
    {
        var generator = new ClipGenerator(WithPeople, DataSplit.Training);
        var trainingSources = MediaCatalog.People.Where(p => p.Use == PeopleUse.Training).Select(p => p.Id).ToHashSet();
        Assert.NotEmpty(generator.CutOuts);
        Assert.All(generator.CutOuts, c => Assert.Contains(c.SourceId, trainingSources));
        foreach (var clip in generator.Stream(seed: 3, startIndex: 0, count: 4))
        {
            Assert.Contains(" person=", clip.Description);
            string person = clip.Description.Split(" person=")[1].Split(' ')[0];
            Assert.Contains(person[..person.IndexOf('#')], trainingSources);
            Assert.All(clip.Pha, a => Assert.InRange(a, 0f, 1f));
            Assert.All(clip.Fgr!, v => Assert.InRange(v, 0f, 1f));
            Assert.True(clip.Pha.Count(a => a > 0.5f) > clip.Pha.Length / 50, $"{clip.Description}: the person covers under 2 % of the frames");
            int n = clip.PixelsPerFrame;
            for (int t = 0; t < clip.Frames; t++)
                for (int c = 0; c < 3; c++)
                    for (int i = 0; i < n; i++)
                        Assert.Equal(ClipGenerator.Composite(clip.Fgr![(t * 3 + c) * n + i], clip.Bgr![(t * 3 + c) * n + i], clip.Pha[t * n + i]), clip.Src[(t * 3 + c) * n + i]);
        }
    }

    [Fact]
    public void Clips_with_cut_outs_are_deterministic_and_mix_with_generated_figures()
    {
        var half = TestMedia.Small with { RealPeople = 0.5 };
        var a = new ClipGenerator(half, DataSplit.Training).Stream(seed: 5, startIndex: 0, count: 8).ToArray();
        var b = new ClipGenerator(half, DataSplit.Training).Generate(seed: 5, index: 6);
        Assert.Equal(a[6].Description, b.Description);
        Assert.Equal(a[6].Src, b.Src);
        Assert.Equal(a[6].Pha, b.Pha);
        Assert.Contains(a, c => c.Description.Contains(" person="));
        Assert.Contains(a, c => c.Description.Contains(" gesture="));
    }

    [Fact]
    public void Without_real_people_the_generator_makes_the_clips_it_always_made()
    {
        // RealPeople = 0 draws nothing extra: the clip equals the one of the options without the knob.
        var plain = new ClipGenerator(TestMedia.Small, DataSplit.Training).Generate(seed: 7, index: 1);
        Assert.Equal(TestMedia.Clips[1].Src, plain.Src);
        Assert.Contains(" gesture=", plain.Description);
        Assert.Empty(new ClipGenerator(TestMedia.Small, DataSplit.Training).CutOuts);
    }

    [Fact]
    public void Real_people_validation_uses_held_out_people_and_backgrounds_only()
    {
        var spec = DataSets.RealPeopleValidation;
        var options = spec.Options with { Frames = 2, Width = 128, Height = 72 };
        var generator = new ClipGenerator(options, spec.Split);
        var validationSources = MediaCatalog.People.Where(p => p.Use == PeopleUse.Validation).Select(p => p.Id).ToHashSet();
        Assert.All(generator.CutOuts, c => Assert.Contains(c.SourceId, validationSources));
        var heldOut = MediaCatalog.All.Where(f => f.Use == MediaUse.HeldOutBackground).Select(f => f.Id).ToHashSet();
        Assert.All(generator.Sources.Where(f => f.Use != MediaUse.ReservedRealPeople && f.Use != MediaUse.TrainingAndValidation), f => Assert.Contains(f.Id, heldOut));
        foreach (var clip in generator.Stream(spec.Seed, 0, 6))
        {
            string person = clip.Description.Split(" person=")[1].Split(' ')[0];
            Assert.Contains(person[..person.IndexOf('#')], validationSources);
            string background = clip.Description.Split(" background=")[1].Split(' ')[0];
            Assert.Contains(background, heldOut);
        }
        // Training never sees the held-out backgrounds, and refuses to be pointed at them.
        Assert.DoesNotContain(TestMedia.Training.Sources, f => heldOut.Contains(f.Id));
        Assert.Throws<ArgumentException>(() => new ClipGenerator(options, DataSplit.Training));
    }
}
