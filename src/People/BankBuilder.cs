using System.Security.Cryptography;
using BiVM.Data.Media;
using BiVM.Data.People;
using OpenCvSharp;

namespace BiVM.People;

/// <summary>
/// Builds the people bank: for every source in <see cref="MediaCatalog.People"/>, the teacher's
/// alpha (cached by the photo's hash) or the file's own alpha channel, cleaned
/// (<see cref="MatteCleaning"/>), split into people (<see cref="CutOutExtraction"/>), filtered by
/// <see cref="PeopleReview"/>, and written with the manifest and a contact sheet. The bank is built
/// in a fresh folder and swapped in whole, so an interrupted run leaves the previous bank.
/// </summary>
public static class BankBuilder
{
    public sealed record Entry(CutOut CutOut, string? RejectedBecause);

    /// <summary>Raise when the cleaning, extraction or foreground estimation changes: install.sh then rebuilds the bank.</summary>
    public const int Version = 1;

    /// <summary>What the bank depends on besides the photos: the code's version, the sources and their splits, the review.</summary>
    public static string Stamp() =>
        $"bank v{Version}; sources {string.Join(",", MediaCatalog.People.Select(p => $"{p.Id}={p.Use}"))}; rejected {string.Join(",", PeopleReview.Rejected.Keys.Order(StringComparer.Ordinal))}";

    /// <summary>True when the bank is missing or was built from other code, sources or review.</summary>
    public static bool IsStale(PeopleWorkspace workspace)
    {
        return StampedFolder.IsStale(workspace.Bank, PeopleBank.ManifestName, Stamp());
    }

    /// <param name="teacher">Created on first use: a fully cached run never loads the 88 MB model.</param>
    public static IReadOnlyList<Entry> Build(PeopleWorkspace workspace, Func<IsNetTeacher> teacher, TextWriter log)
    {
        string building = StampedFolder.Begin(workspace.Bank);
        Directory.CreateDirectory(workspace.AlphaCache);
        if (Directory.Exists(workspace.Rejected)) Directory.Delete(workspace.Rejected, recursive: true);
        Directory.CreateDirectory(workspace.Rejected);

        var entries = new List<Entry>();
        var sheet = new List<(string Label, Mat Image, bool Rejected)>();
        try
        {
            foreach (var source in MediaCatalog.People)
            {
                string path = workspace.PathOf(source);
                string sha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));
                var (bgr, alpha) = source.HasAlpha ? OwnAlpha(path) : TeacherAlpha(workspace, path, sha, teacher, log);
                List<CutOutImage> cuts;
                using (bgr)
                using (alpha)
                    cuts = CutOutExtraction.Split(bgr, alpha);
                for (int k = 0; k < cuts.Count; k++)
                {
                    using var cut = cuts[k];
                    string id = $"{source.Id}#{k}";
                    string file = $"{source.Id.Replace(':', '-')}-{k}.png";
                    string? reason = PeopleReview.Rejected.GetValueOrDefault(id);
                    Write(Path.Combine(reason is null ? building : workspace.Rejected, file), cut.Image);
                    entries.Add(new Entry(new CutOut(id, source.Id, file, cut.Image.Width, cut.Image.Height, cut.Edges, sha), reason));
                    sheet.Add(($"{id} {source.Use.ToString().ToLowerInvariant()}", cut.Image.Clone(), reason is not null));
                }
                int rejected = entries.Count(e => e.CutOut.SourceId == source.Id && e.RejectedBecause is not null);
                log.WriteLine($"people: {source.Id} ({source.Use.ToString().ToLowerInvariant()}): {cuts.Count} cut-out(s), {cuts.Count - rejected} kept");
            }
            foreach (string id in PeopleReview.Rejected.Keys)
                if (entries.All(e => e.CutOut.Id != id))
                    throw new InvalidDataException($"PeopleReview rejects {id}, which this run did not produce: the cut-outs changed, review the contact sheet again.");
            PeopleBank.WriteManifest(building, entries.Where(e => e.RejectedBecause is null).Select(e => e.CutOut));
            ContactSheet.Write(workspace.ContactSheet, sheet);
        }
        finally
        {
            foreach (var s in sheet) s.Image.Dispose();
        }
        StampedFolder.Commit(building, workspace.Bank, Stamp());
        return entries;
    }

    /// <summary>A photo cut-out that ships its own alpha (tuxpaint stamps): used as drawn, not cleaned.</summary>
    private static (Mat Bgr, Mat Alpha) OwnAlpha(string path)
    {
        using var raw = Cv2.ImRead(path, ImreadModes.Unchanged);
        if (raw.Empty() || raw.Channels() != 4 || raw.Depth() != MatType.CV_8U)
            throw new InvalidDataException($"{path} should be an 8-bit PNG with an alpha channel.");
        var bgr = new Mat();
        Cv2.CvtColor(raw, bgr, ColorConversionCodes.BGRA2BGR);
        var alpha = new Mat();
        Cv2.ExtractChannel(raw, alpha, 3);
        return (bgr, alpha);
    }

    private static (Mat Bgr, Mat Alpha) TeacherAlpha(PeopleWorkspace workspace, string path, string sha, Func<IsNetTeacher> teacher, TextWriter log)
    {
        var bgr = Cv2.ImRead(path, ImreadModes.Color);
        if (bgr.Empty()) throw new InvalidDataException($"OpenCV could not decode {path}.");
        string cached = Path.Combine(workspace.AlphaCache, sha + ".png");
        Mat raw;
        if (File.Exists(cached))
        {
            raw = Cv2.ImRead(cached, ImreadModes.Grayscale);
            if (raw.Size() != bgr.Size()) throw new InvalidDataException($"{cached} is {raw.Size()}, its photo {path} is {bgr.Size()}; delete the cache file.");
        }
        else
        {
            var started = DateTime.UtcNow;
            raw = teacher().Predict(bgr);
            Write(cached, raw);
            log.WriteLine($"people: teacher on {Path.GetFileName(path)} took {(DateTime.UtcNow - started).TotalSeconds:F1} s");
        }
        using (raw)
            return (bgr, MatteCleaning.Clean(raw));
    }

    /// <summary>PNG under a temporary name, then renamed: a killed run never leaves half a file that a later run would trust.</summary>
    internal static void Write(string path, Mat image)
    {
        string temp = Path.Combine(Path.GetDirectoryName(path)!, "." + Path.GetFileName(path) + ".tmp.png");
        if (!Cv2.ImWrite(temp, image)) throw new IOException($"OpenCV could not write {temp}.");
        File.Move(temp, path, overwrite: true);
    }
}
