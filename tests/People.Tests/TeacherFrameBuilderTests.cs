using BiVM.Data.Media;
using BiVM.Data.People;
using OpenCvSharp;

namespace BiVM.People.Tests;

/// <summary>
/// The teacher frames built from the real sources with the cached teacher alphas (./install.sh runs
/// scripts/fetch-people.sh, which builds them once). The teacher never runs here: a frame whose alpha is not
/// cached fails the test.
/// </summary>
public sealed class TeacherFrameBuilderTests : IDisposable
{
    private readonly PeopleWorkspace _real = PeopleWorkspace.Default();
    private readonly string _temp = Directory.CreateTempSubdirectory("bivm-teacher-frames-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    private PeopleWorkspace Scratch()
    {
        Directory.CreateDirectory(Path.Combine(_temp, "people"));
        Directory.CreateSymbolicLink(Path.Combine(_temp, "debian"), Path.Combine(_real.DataRoot, "debian"));
        Directory.CreateSymbolicLink(Path.Combine(_temp, "npm"), Path.Combine(_real.DataRoot, "npm"));
        Directory.CreateSymbolicLink(Path.Combine(_temp, "people", "alpha"), _real.AlphaCache);
        return new PeopleWorkspace(_temp);
    }

    private static IsNetTeacher NoTeacher() =>
        throw new InvalidOperationException("a teacher alpha is not cached: run scripts/fetch-people.sh before the tests");

    [Fact]
    public void Teacher_frames_are_training_sources_with_static_objects_removed_from_the_video()
    {
        var workspace = Scratch();
        Assert.True(TeacherFrameBuilder.IsStale(workspace));
        var sequences = TeacherFrameBuilder.Build(workspace, NoTeacher, TextWriter.Null);
        Assert.False(TeacherFrameBuilder.IsStale(workspace));

        using var frames = TeacherFrames.Open(workspace.TeacherFrames);
        Assert.Equal(sequences, frames.Sequences, (a, b) => a.Id == b.Id && a.Frames.SequenceEqual(b.Frames));
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

        // What stays still in the video (the lamp post, the tripod) is removed: the per-pixel median of the targets is 0,
        // while the walking people remain.
        var alphas = Enumerable.Range(0, video.Frames.Count).Select(i => frames.Alpha(video, i).AsSpan<byte>().ToArray()).ToArray();
        int pixels = alphas[0].Length, opaque = 0;
        var column = new byte[alphas.Length];
        for (int p = 0; p < pixels; p++)
        {
            for (int k = 0; k < alphas.Length; k++) column[k] = alphas[k][p];
            Array.Sort(column);
            Assert.Equal(0, column[column.Length / 2]);
            if (column[^1] > 200) opaque++;
        }
        Assert.True(opaque > 2000, $"only {opaque} pixels are ever confidently a person");
        Assert.All(frames.Sequences.SelectMany(s => s.Frames.Select((_, i) => frames.Frame(s, i))), f => Assert.True(Math.Max(f.Width, f.Height) <= TeacherFrameBuilder.LongSide));
    }
}
