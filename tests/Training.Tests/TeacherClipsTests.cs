using System.Globalization;
using BiVM.Data.Media;
using BiVM.Data.People;
using BiVM.Data.Synthesis;
using BiVM.Model;
using BiVM.Tests.Shared;
using OpenCvSharp;

namespace BiVM.Training.Tests;

/// <summary>
/// Distillation on real frames: a teacher clip (no foreground) is supervised on alpha alone, weighted by λ_teacher
/// (data.teacherWeight), and mixes with composites in one batch. The frames are synthetic, in a data folder whose
/// debian/ links to the fetched media.
/// </summary>
public sealed class TeacherClipsTests : IDisposable
{
    private readonly TempFolder _root;
    private readonly MediaLibrary _library;

    public TeacherClipsTests()
    {
        // The media first: where nothing was fetched it throws, and no temp folder is left behind for a Dispose that never runs.
        string media = MediaLocator.Default().Root;
        _root = new TempFolder("bivm-teacher-train-");
        Directory.CreateSymbolicLink(_root.File("debian"), media);
        _library = new MediaLibrary(new MediaLocator(_root.File("debian")));
        string folder = TeacherFrames.DirectoryFor(_library.Locator);
        Directory.CreateDirectory(folder);
        var frames = new List<string>();
        var alphas = new List<string>();
        for (int i = 0; i < 4; i++)
        {
            using var frame = new Mat(120, 160, MatType.CV_8UC3, Scalar.All(30));
            using var alpha = new Mat(120, 160, MatType.CV_8UC1, Scalar.All(0));
            Cv2.Rectangle(frame, new Rect(40 + 5 * i, 20, 40, 90), new Scalar(200, 180, 160), -1);
            Cv2.Rectangle(alpha, new Rect(40 + 5 * i, 20, 40, 90), Scalar.All(255), -1);
            Cv2.ImWrite(Path.Combine(folder, $"f{i}.png"), frame);
            Cv2.ImWrite(Path.Combine(folder, $"f{i}.alpha.png"), alpha);
            frames.Add($"f{i}.png");
            alphas.Add($"f{i}.alpha.png");
        }
        TeacherFrames.WriteManifest(folder, [new TeacherSequence("walk", "opencv-doc:vtest.avi", frames, alphas)]);
    }

    public void Dispose()
    {
        _library.Dispose();
        _root.Dispose();
    }

    private static TrainingConfig Config(double teacherFrames, double weight, int batch) => new()
    {
        Family = ModelFamily.Rvm,
        Seed = 3,
        DataSeed = 21,
        Threads = 1,
        CheckpointEvery = 100,
        Data = new DataSources { TeacherFrames = teacherFrames, TeacherWeight = weight },
        Stages = [new StageConfig { Name = "s", Steps = 2, Width = 64, Height = 64, Frames = 2, BatchSize = batch }],
    };

    private static IReadOnlyList<Dictionary<string, string>> Rows(string run) =>
        File.ReadAllLines(Path.Combine(run, "losses.csv")).Skip(1)
            .Select(line => TrainingLog.Columns.Zip(line.Split(',')).ToDictionary(p => p.First, p => p.Second)).ToArray();

    private static double Value(Dictionary<string, string> row, string key) => double.Parse(row[key], CultureInfo.InvariantCulture);

    [Fact]
    public void A_teacher_clip_is_supervised_on_alpha_alone_times_the_teacher_weight()
    {
        string run = _root.File("teacher-only");
        using (var trainer = new Trainer(Config(1, 0.5, 1), run, _library)) trainer.Run(resume: false);
        var rows = Rows(run);
        Assert.Equal(2, rows.Count);
        foreach (var row in rows)
        {
            Assert.Equal("", row["fgr_l1"]);   // no foreground exists for a real frame
            Assert.Equal("", row["pha_l1"]);
            Assert.True(Value(row, "teacher_pha") > 0);
            Assert.Equal(0.5 * Value(row, "teacher_pha"), Value(row, "total"), 1e-4 * Value(row, "total"));
        }
    }

    [Fact]
    public void In_a_mixed_batch_each_kind_counts_by_its_share()
    {
        var config = Config(0.5, 0.25, 4);
        string run = _root.File("mixed");
        using (var trainer = new Trainer(config, run, _library)) trainer.Run(resume: false);
        var generator = new ClipGenerator(config.ClipsFor(config.Stages[0]), DataSplit.Training, _library);
        var rows = Rows(run);
        bool mixed = false;
        for (int step = 0; step < rows.Count; step++)
        {
            int teachers = Enumerable.Range(0, 4).Count(b => generator.Generate(config.DataSeed, step * 4 + b).Fgr is null);
            var row = rows[step];
            double composite = teachers == 4 ? 0 : new[] { "pha_l1", "pha_laplacian", "pha_coherence", "fgr_l1", "fgr_coherence" }.Sum(k => Value(row, k));
            double teacher = teachers == 0 ? 0 : Value(row, "teacher_pha");
            double expected = composite * (4 - teachers) / 4 + 0.25 * teacher * teachers / 4;
            Assert.Equal(expected, Value(row, "total"), 1e-4 * expected);
            mixed |= teachers is > 0 and < 4;
        }
        Assert.True(mixed, "seed 21 gave no mixed batch in 2 steps: pick another");
    }

    [Fact]
    public void A_negative_teacher_weight_fails_the_load()
    {
        string path = _root.File("bad.json");
        File.WriteAllText(path, """{ "family": "rvm", "data": { "teacherWeight": -1 }, "stages": [ { "steps": 1, "width": 64, "height": 64 } ] }""");
        var e = Assert.Throws<BiVM.Contracts.UserInputException>(() => TrainingConfig.Load(path));
        Assert.Contains("teacherWeight", e.Message);
    }
}
