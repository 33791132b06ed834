using System.Text;
using BiVM.Data.IO;
using BiVM.Data.Metrics;
using BiVM.Data.Synthesis;
using OpenCvSharp;

namespace BiVM.People;

/// <summary>
/// Writes <see cref="DataSets.RealPeopleValidation"/> in the eval folder layout (for
/// `bivm eval --data`) and scores the two references a model is read against: predicting all
/// background, and the teacher itself on the composites (its alpha against the ground truth, which
/// is its own cleaned alpha on the original photos: the floor no student trained on it can beat by much).
/// </summary>
public static class RealPeopleValidation
{
    public static void Write(PeopleWorkspace workspace, TextWriter log)
    {
        string temp = workspace.ValidationSet + ".writing";
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        int n = ClipFolder.WriteAll(DataSets.RealPeopleValidation.Clips(), temp);
        // A data set folder, not a clip: ClipFolder reads only its clip sub-folders, so this file is safe here.
        File.WriteAllText(Path.Combine(temp, SetFile), SetStamp());
        if (Directory.Exists(workspace.ValidationSet)) Directory.Delete(workspace.ValidationSet, recursive: true);
        Directory.Move(temp, workspace.ValidationSet);
        log.WriteLine($"people: wrote {n} clips of {DataSets.RealPeopleValidation.Name} to {workspace.ValidationSet}");
    }

    private const string SetFile = "set.txt";

    private static string SetStamp() => $"{DataSets.RealPeopleValidation}\n{BankBuilder.Stamp()}\n";

    /// <summary>True when the set is missing or was written from another spec or bank.</summary>
    public static bool IsStale(PeopleWorkspace workspace)
    {
        string stamp = Path.Combine(workspace.ValidationSet, SetFile);
        return !File.Exists(stamp) || File.ReadAllText(stamp) != SetStamp();
    }

    /// <summary>Scores as `bivm eval` does (the clips read back from the folder, 8-bit); returns the table's text and writes it beside the set.</summary>
    public static string Score(PeopleWorkspace workspace, IsNetTeacher teacher, TextWriter log)
    {
        var table = new MetricsTable();
        const string background = "all background", teacherRow = "teacher (ISNet, imgly medium)";
        var started = DateTime.UtcNow;
        foreach (string dir in ClipFolder.ClipDirectories(workspace.ValidationSet))
        {
            var clip = ClipFolder.Read(dir);
            string name = Path.GetFileName(dir);
            table.AddClip(background, name, clip, new float[clip.Pha.Length]);
            table.AddClip(teacherRow, name, clip, TeacherAlpha(teacher, clip));
        }
        string text = $"# {DataSets.RealPeopleValidation.Name}: references (bivm-people prepare, teacher pass {(DateTime.UtcNow - started).TotalSeconds:F0} s)\n\n" + table.Format();
        File.WriteAllText(workspace.ValidationScores, text);
        log.WriteLine(text);
        return text;
    }

    private static float[] TeacherAlpha(IsNetTeacher teacher, Clip clip)
    {
        int n = clip.PixelsPerFrame;
        var result = new float[clip.Pha.Length];
        using var bgr = new Mat(clip.Height, clip.Width, MatType.CV_8UC3);
        for (int t = 0; t < clip.Frames; t++)
        {
            var rgb = clip.Src.AsSpan(t * 3 * n, 3 * n);   // frame t of [T, 3, H, W]
            var pixels = bgr.AsSpan<byte>();
            for (int i = 0; i < n; i++)
            {
                pixels[3 * i] = ClipFolder.Quantize(rgb[2 * n + i]);
                pixels[3 * i + 1] = ClipFolder.Quantize(rgb[n + i]);
                pixels[3 * i + 2] = ClipFolder.Quantize(rgb[i]);
            }
            using var alpha = teacher.Predict(bgr);
            var a = alpha.AsSpan<byte>();
            for (int i = 0; i < n; i++) result[t * n + i] = a[i] / 255f;
        }
        return result;
    }
}
