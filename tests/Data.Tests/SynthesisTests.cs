using BiVM.Data.Media;
using BiVM.Data.Synthesis;

namespace BiVM.Data.Tests;

public class SynthesisTests
{
    [Fact]
    public void Same_seed_and_index_give_bit_identical_clips_in_any_order()
    {
        var again = new ClipGenerator(TestMedia.Small, DataSplit.Training);
        var second = again.Generate(seed: 7, index: 2); // out of order: no state carries between clips
        var first = TestMedia.Clips[2];
        Assert.Equal(first.Description, second.Description);
        Assert.Equal(first.Src, second.Src);
        Assert.Equal(first.Pha, second.Pha);
        Assert.Equal(first.Fgr, second.Fgr);
        Assert.Equal(first.Bgr, second.Bgr);
    }

    [Fact]
    public void Different_seeds_indices_and_splits_give_different_clips()
    {
        var a = TestMedia.Clips[0];
        var otherSeed = TestMedia.Training.Generate(seed: 8, index: 0);
        var otherIndex = TestMedia.Clips[1];
        var validation = new ClipGenerator(TestMedia.Small, DataSplit.Validation).Generate(seed: 7, index: 0);
        Assert.NotEqual(a.Src, otherSeed.Src);
        Assert.NotEqual(a.Src, otherIndex.Src);
        Assert.NotEqual(a.Src, validation.Src);
        Assert.NotEqual(a.Pha, otherSeed.Pha);
    }

    [Fact]
    public void Tensors_have_the_requested_shapes()
    {
        var o = TestMedia.Small;
        foreach (var clip in TestMedia.Clips)
        {
            Assert.Equal((o.Frames, o.Height, o.Width), (clip.Frames, clip.Height, clip.Width));
            Assert.Equal(o.Frames * 3 * o.Height * o.Width, clip.Src.Length);
            Assert.Equal(o.Frames * o.Height * o.Width, clip.Pha.Length);
            Assert.Equal(clip.Src.Length, clip.Fgr!.Length);
            Assert.Equal(clip.Src.Length, clip.Bgr!.Length);
        }
    }

    [Fact]
    public void Alpha_is_in_unit_range_with_background_solid_foreground_and_soft_edges()
    {
        foreach (var clip in TestMedia.Clips)
        {
            Assert.All(clip.Pha, a => Assert.InRange(a, 0f, 1f));
            for (int t = 0; t < clip.Frames; t++)
            {
                var frame = clip.AlphaFrame(t).ToArray();
                Assert.True(frame.Count(a => a == 0f) > frame.Length / 4, $"{clip.Description} frame {t}: too little background");
                Assert.True(frame.Count(a => a == 1f) > 20, $"{clip.Description} frame {t}: no solid foreground");
                Assert.True(frame.Count(a => a > 0f && a < 1f) > 20, $"{clip.Description} frame {t}: no soft edge");
            }
        }
    }

    [Fact]
    public void Colours_are_in_unit_range()
    {
        foreach (var clip in TestMedia.Clips)
            foreach (var tensor in new[] { clip.Src, clip.Fgr!, clip.Bgr! })
                Assert.All(tensor, v => Assert.InRange(v, 0f, 1f));
    }

    [Fact]
    public void Composite_equation_holds_exactly()
    {
        foreach (var clip in TestMedia.Clips)
        {
            int n = clip.PixelsPerFrame;
            for (int t = 0; t < clip.Frames; t++)
                for (int c = 0; c < 3; c++)
                    for (int i = 0; i < n; i++)
                    {
                        int k = (t * 3 + c) * n + i;
                        float a = clip.Pha[t * n + i];
                        float expected = clip.Fgr![k] * a + clip.Bgr![k] * (1 - a);
                        if (clip.Src[k] != expected)
                            Assert.Fail($"{clip.Description}: src[{t},{c},{i / clip.Width},{i % clip.Width}] = {clip.Src[k]}, fgr·pha + bgr·(1−pha) = {expected}");
                    }
        }
    }

    [Fact]
    public void Frames_move_over_time()
    {
        foreach (var clip in TestMedia.Clips)
        {
            int n = clip.PixelsPerFrame, changed = 0;
            for (int t = 1; t < clip.Frames; t++)
            {
                double diff = 0;
                for (int i = 0; i < n; i++) diff += Math.Abs(clip.Pha[t * n + i] - clip.Pha[(t - 1) * n + i]);
                if (diff > 1) changed++;
            }
            // A pause can freeze a stretch of frames, but the figure's limbs move in the rest.
            Assert.True(changed >= 2, $"{clip.Description}: alpha changed in only {changed} of {clip.Frames - 1} frame steps");
        }
    }

    [Fact]
    public void Stream_is_lazy_and_resumable_by_index()
    {
        var stream = TestMedia.Training.Stream(seed: 7, startIndex: 3);
        var resumed = stream.First(); // an endless stream: only the first element is generated
        Assert.Equal(TestMedia.Clips[3].Src, resumed.Src);
        Assert.Equal(2, TestMedia.Training.Stream(seed: 7, startIndex: 0, count: 2).Count());
    }

    [Fact]
    public void Parallel_stream_yields_the_serial_clips_in_order()
    {
        var parallel = TestMedia.Training.StreamParallel(seed: 7, workers: 2, startIndex: 1, count: 3).ToArray();
        Assert.Equal(3, parallel.Length);
        for (int k = 0; k < 3; k++)
        {
            Assert.Equal(TestMedia.Clips[k + 1].Description, parallel[k].Description);
            Assert.Equal(TestMedia.Clips[k + 1].Src, parallel[k].Src);
        }
    }

    [Fact]
    public void Validation_set_is_named_by_its_seed()
    {
        var spec = DataSets.Validation;
        Assert.Equal(DataSplit.Validation, spec.Split);
        Assert.Equal(1001, spec.Seed);
        Assert.Equal($"val-s{spec.Seed}", spec.Name);
        var small = spec with { ClipCount = 1, Options = TestMedia.Small };
        var first = small.Clips().Single();
        var again = small.Clips().Single();
        Assert.Equal(first.Pha, again.Pha);
        Assert.Contains("split=validation", first.Description);
    }

    [Fact]
    public void Invalid_options_are_rejected_by_name()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new ClipGenerator(new ClipOptions { Noise = 1.5 }, DataSplit.Training));
        Assert.Equal("Noise", ex.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ClipGenerator(new ClipOptions { Frames = 0 }, DataSplit.Training));
    }

    [Fact]
    public void Easing_curves_start_at_zero_and_end_at_one()
    {
        var rng = new SeededRandom(3);
        for (int k = 0; k < 200; k++)
        {
            var ease = Easing.Random(rng);
            Assert.Equal(0, ease(0), 9);
            Assert.Equal(1, ease(1), 9);
        }
    }

    [Fact]
    public void Seeded_random_is_reproducible_and_stream_dependent()
    {
        var a = new SeededRandom(42, 1);
        var b = new SeededRandom(42, 1);
        var c = new SeededRandom(42, 2);
        var xa = Enumerable.Range(0, 8).Select(_ => a.NextUInt64()).ToArray();
        Assert.Equal(xa, Enumerable.Range(0, 8).Select(_ => b.NextUInt64()).ToArray());
        Assert.NotEqual(xa, Enumerable.Range(0, 8).Select(_ => c.NextUInt64()).ToArray());
        double mean = Enumerable.Range(0, 10000).Select(_ => a.NextDouble()).Average();
        Assert.InRange(mean, 0.48, 0.52);
    }
}
