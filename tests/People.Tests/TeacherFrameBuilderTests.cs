using BiVM.Data.Media;
using BiVM.Data.People;
using OpenCvSharp;

namespace BiVM.People.Tests;

/// <summary>
/// The teacher frames as ./install.sh builds them (scripts/fetch-people.sh: the published RVM over all of vtest.avi and
/// the training photos, a minute or two, too long to repeat here): fresh for this build's stamp, training sources only,
/// and targets that mark the walking people and not the street's fixtures.
/// </summary>
public sealed class TeacherFrameBuilderTests
{
    private readonly PeopleWorkspace _real = PeopleWorkspace.Default();

    [Fact]
    public void Teacher_frames_are_training_sources_whose_video_targets_mark_only_what_moves()
    {
        Assert.False(TeacherFrameBuilder.IsStale(_real), $"{_real.TeacherFrames} is missing or was built by another version; run scripts/fetch-people.sh");
        using var frames = TeacherFrames.Open(_real.TeacherFrames);
        var video = frames.Sequences[0];
        Assert.Equal(TeacherFrameBuilder.VideoId, video.SourceId);
        Assert.Equal((TeacherFrameBuilder.LastVideoFrame - TeacherFrameBuilder.FirstVideoFrame) / TeacherFrameBuilder.VideoStride + 1, video.Frames.Count);
        Assert.Equal($"vtest-{TeacherFrameBuilder.FirstVideoFrame:D4}.png", video.Frames[0]);
        foreach (var photo in frames.Sequences.Skip(1))
        {
            var source = MediaCatalog.GetPerson(photo.SourceId);
            Assert.Equal(PeopleUse.Training, source.Use);
            Assert.False(TeacherFrameBuilder.Excluded.ContainsKey(source.Id));
            Assert.Single(photo.Frames);
        }
        Assert.Equal(TeacherFrameBuilder.Photos.Count, frames.Sequences.Count - 1);

        // A matting teacher marks people, not the lamp post or the road sign (ISNet did, in every frame): the per-pixel
        // median of the video's targets is 0 almost everywhere, while the walking people are confidently marked.
        var alphas = Enumerable.Range(0, video.Frames.Count).Select(i => frames.Alpha(video, i).AsSpan<byte>().ToArray()).ToArray();
        int pixels = alphas[0].Length, opaque = 0, still = 0;
        var column = new byte[alphas.Length];
        for (int p = 0; p < pixels; p++)
        {
            for (int k = 0; k < alphas.Length; k++) column[k] = alphas[k][p];
            Array.Sort(column);
            if (column[column.Length / 2] > 25) still++;
            if (column[^1] > 200) opaque++;
        }
        Assert.True(still < pixels / 200, $"{still} of {pixels} pixels are foreground in most frames");
        Assert.True(opaque > 2000, $"only {opaque} pixels are ever confidently a person");
        Assert.All(frames.Sequences.SelectMany(s => s.Frames.Select((_, i) => frames.Frame(s, i))), f => Assert.True(Math.Max(f.Width, f.Height) <= TeacherFrameBuilder.LongSide));
    }
}
