using BiVM.Contracts;
using BiVM.Data.Synthesis;
using BiVM.Training;

namespace BiVM.Training.Tests;

/// <summary>A config's "data" section reaches the clip generator, relative folders resolve, bad values fail the load.</summary>
public sealed class DataSourcesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bivm-data-sources-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string data)
    {
        string path = Path.Combine(_dir, "run.json");
        File.WriteAllText(path, $$"""
            { "family": "rvm", "data": {{data}},
              "stages": [ { "name": "s", "steps": 2, "width": 96, "height": 64, "frames": 2 } ] }
            """);
        return path;
    }

    [Fact]
    public void The_data_section_reaches_the_clip_options_with_folders_relative_to_the_config()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "matting"));
        var config = TrainingConfig.Load(Write("""{ "realPeople": 0.4, "matteData": "matting", "matteForegrounds": 0.3 }"""));
        var clips = config.ClipsFor(config.Stages[0]);
        Assert.Equal((0.4, 0.3, 2, 96, 64), (clips.RealPeople, clips.MatteForegrounds, clips.Frames, clips.Width, clips.Height));
        Assert.Equal(Path.Combine(_dir, "matting"), clips.MatteData);
        Assert.Null(clips.BackgroundData);
    }

    [Fact]
    public void The_people_mix_and_the_teacher_clips_reach_the_clip_options()
    {
        var config = TrainingConfig.Load(Write("""{ "realPeople": 0.6, "maxPeople": 3, "partialPeople": 0.4, "teacherFrames": 0.2, "teacherWeight": 0.3 }"""));
        var clips = config.ClipsFor(config.Stages[0]);
        Assert.Equal((3, 0.4, 0.2), (clips.MaxPeople, clips.PartialPeople, clips.TeacherFrames));
        Assert.Equal(0.3, config.Data.TeacherWeight);
        var defaults = new ClipOptions();
        Assert.Equal((1, 0.0, 0.0, 0.5), (defaults.MaxPeople, defaults.PartialPeople, defaults.TeacherFrames, new DataSources().TeacherWeight));
    }

    [Fact]
    public void Without_a_data_section_only_generated_figures_are_drawn()
    {
        string path = Path.Combine(_dir, "plain.json");
        File.WriteAllText(path, """{ "family": "rvm", "stages": [ { "steps": 1, "width": 96, "height": 64 } ] }""");
        var clips = TrainingConfig.Load(path).ClipsFor(TrainingConfig.Load(path).Stages[0]);
        Assert.Equal((0.0, 0.0, null), (clips.RealPeople, clips.MatteForegrounds, clips.MatteData));
    }

    [Theory]
    [InlineData("""{ "realPeople": 1.5 }""", "RealPeople")]
    [InlineData("""{ "realPeople": 0.7, "matteData": ".", "matteForegrounds": 0.5 }""", "at most 1")]
    [InlineData("""{ "matteForegrounds": 0.5 }""", "MatteData")]
    [InlineData("""{ "backgroundData": "no-such-folder" }""", "no-such-folder")]
    [InlineData("""{ "realPeopel": 0.5 }""", "realPeopel")]
    [InlineData("""{ "realPeople": 1, "maxPeople": 0 }""", "MaxPeople")]
    [InlineData("""{ "teacherFrames": 2 }""", "TeacherFrames")]
    public void A_bad_data_section_fails_the_load_with_one_line(string data, string named)
    {
        var e = Assert.Throws<UserInputException>(() => TrainingConfig.Load(Write(data)));
        Assert.Contains(named, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
