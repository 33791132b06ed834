using BiVM.Data.Media;
using BiVM.Data.People;
using BiVM.Data.Synthesis;
using OpenCvSharp;

namespace BiVM.Data.Tests;

/// <summary>
/// More person instances per clip (ClipOptions.MaxPeople, PartialPeople): partial-body crops, groups composited
/// back to front, and clips from the people bank (scripts/fetch-people.sh; without it the generator throws, loudly).
/// </summary>
public class PeopleMixTests
{
    /// <summary>A 200x100 "person": opaque in the middle 60 px of the width, transparent at the sides.</summary>
    private static Mat Person()
    {
        var bgra = new Mat(200, 100, MatType.CV_8UC4, new Scalar(0, 0, 0, 0));
        Cv2.Rectangle(bgra, new Rect(20, 0, 60, 200), new Scalar(30, 60, 90, 255), -1);
        return bgra;
    }

    [Fact]
    public void A_partial_crop_keeps_part_of_the_body_and_marks_the_new_cut_edges()
    {
        using var person = Person();
        int tops = 0, windows = 0, wholes = 0;
        for (int seed = 0; seed < 60; seed++)
        {
            var rng = new SeededRandom(seed);
            var edges = CutEdges.None;
            using var crop = CutOutLayer.PartialCrop(rng, person, ref edges, out string part);
            if (crop is null)
            {
                // Only a window can miss the body; the edges are left as they were.
                Assert.Equal(("whole", CutEdges.None), (part, edges));
                wholes++;
                continue;
            }
            Assert.Equal(MatType.CV_8UC4, crop.Type());
            if (part.StartsWith("top", StringComparison.Ordinal))
            {
                tops++;
                Assert.Equal(100, crop.Width);
                Assert.InRange(crop.Height, 60, 140);   // 30–70 % of 200
                Assert.Equal(CutEdges.Bottom, edges);
            }
            else
            {
                windows++;
                Assert.StartsWith("window", part);
                Assert.Equal(200, crop.Height);
                Assert.InRange(crop.Width, 35, 70);
                Assert.False(edges.HasFlag(CutEdges.Bottom));
                Assert.NotEqual(CutEdges.None, edges);   // a window narrower than the cut-out cuts at least one side
            }
        }
        Assert.True(tops > 0 && windows > 0, $"{tops} top crops and {windows} windows in 60 draws");
        // A window over the transparent side alone is refused.
        using var sideOnly = new Mat(200, 100, MatType.CV_8UC4, new Scalar(0, 0, 0, 0));
        Cv2.Rectangle(sideOnly, new Rect(0, 0, 5, 200), new Scalar(0, 0, 0, 255), -1);
        int refused = 0;
        for (int seed = 0; seed < 60; seed++)
        {
            var edges = CutEdges.None;
            using var crop = CutOutLayer.PartialCrop(new SeededRandom(seed), sideOnly, ref edges, out _);
            if (crop is null) refused++;
            else Assert.True(Cv2.CountNonZero(crop.ExtractChannel(3)) >= 0.05 * crop.Width * crop.Height);
        }
        Assert.True(refused > 0);
    }

    [Fact]
    public void A_group_is_its_people_composited_one_over_another()
    {
        using var a = Person();
        using var b = new Mat(200, 300, MatType.CV_8UC4, new Scalar(200, 100, 50, 128));   // half-transparent, everywhere, wide
        var back = new CutOutLayer(new SeededRandom(1), a, CutEdges.None, 160, 120);
        var front = new CutOutLayer(new SeededRandom(2), b, CutEdges.None, 160, 120);
        // The expected colour over a plain background, person by person: back first, then front.
        var backAlpha = back.AlphaCanvas.Clone();
        var backColour = back.ColourCanvas.Clone();
        var frontAlpha = front.AlphaCanvas.Clone();
        var frontColour = front.ColourCanvas.Clone();
        using var group = new PeopleGroupLayer([back, front]);
        using var alpha = new Mat();
        using var colour = new Mat();
        group.Render(0, alpha, colour);
        const float background = 0.25f;
        var ga = alpha.AsSpan<float>();
        var gf = colour.AsSpan<float>();
        var ba = backAlpha.AsSpan<float>();
        var bf = backColour.AsSpan<float>();
        var fa = frontAlpha.AsSpan<float>();
        var ff = frontColour.AsSpan<float>();
        int both = 0;
        for (int i = 0; i < ga.Length; i++)
        {
            if (ba[i] > 0 && fa[i] > 0) both++;
            Assert.Equal(fa[i] + ba[i] * (1 - fa[i]), ga[i], 1e-6f);
            for (int c = 0; c < 3; c++)
            {
                float sequential = ff[3 * i + c] * fa[i] + (bf[3 * i + c] * ba[i] + background * (1 - ba[i])) * (1 - fa[i]);
                float grouped = gf[3 * i + c] * ga[i] + background * (1 - ga[i]);
                Assert.Equal(sequential, grouped, 1e-5f);
            }
        }
        Assert.True(both > 100, $"the two people overlap in only {both} pixels: the test would not test the blend");
        foreach (var m in new[] { backAlpha, backColour, frontAlpha, frontColour }) m.Dispose();
    }

    [Fact]
    public void Clips_with_several_and_partial_people_stay_exact_and_training_only()
    {
        var options = TestMedia.Small with { RealPeople = 1, MaxPeople = 3, PartialPeople = 0.5 };
        var generator = new ClipGenerator(options, DataSplit.Training);
        var trainingSources = MediaCatalog.People.Where(p => p.Use == PeopleUse.Training).Select(p => p.Id).ToHashSet();
        var clips = generator.Stream(seed: 11, startIndex: 0, count: 10).ToArray();
        var counts = new List<int>();
        bool partial = false;
        foreach (var clip in clips)
        {
            var people = clip.Description.Split(" person=")[1].Split(' ')[0].Split('+');
            counts.Add(people.Length);
            partial |= people.Any(p => p.Contains("(top", StringComparison.Ordinal) || p.Contains("(window", StringComparison.Ordinal));
            Assert.All(people, p => Assert.Contains(p[..p.IndexOf('#')], trainingSources));
            Assert.All(clip.Pha, a => Assert.InRange(a, 0f, 1f));
            int n = clip.PixelsPerFrame;
            for (int t = 0; t < clip.Frames; t++)
                for (int c = 0; c < 3; c++)
                    for (int i = 0; i < n; i++)
                        Assert.Equal(ClipGenerator.Composite(clip.Fgr![(t * 3 + c) * n + i], clip.Bgr![(t * 3 + c) * n + i], clip.Pha[t * n + i]), clip.Src[(t * 3 + c) * n + i]);
        }
        Assert.All(counts, k => Assert.InRange(k, 1, 3));
        Assert.Contains(counts, k => k > 1);
        Assert.True(partial, "no partial crop in 10 clips at PartialPeople = 0.5");
        // Deterministic: a clip is a pure function of (seed, index).
        var again = new ClipGenerator(options, DataSplit.Training).Generate(seed: 11, index: 4);
        Assert.Equal(clips[4].Src, again.Src);
    }

    [Fact]
    public void Default_people_options_leave_one_whole_cut_out_per_clip()
    {
        // MaxPeople 1 and PartialPeople 0 draw nothing extra, so the real-people validation set keeps its clips.
        var generator = new ClipGenerator(TestMedia.Small with { RealPeople = 1 }, DataSplit.Training);
        foreach (var clip in generator.Stream(seed: 3, startIndex: 0, count: 4))
        {
            string person = clip.Description.Split(" person=")[1].Split(' ')[0];
            Assert.DoesNotContain('+', person);
            Assert.DoesNotContain('(', person);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => new ClipGenerator(TestMedia.Small with { RealPeople = 1, MaxPeople = 0 }, DataSplit.Training));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ClipGenerator(TestMedia.Small with { RealPeople = 1, PartialPeople = 1.5 }, DataSplit.Training));
    }
}
