namespace BiVM.People;

/// <summary>
/// A prepared folder built whole beside its place (<c>FOLDER.building</c>) and moved into place with a stamp file
/// that names what it was built from (code version, sources, review). It is stale when its manifest or stamp is
/// missing or the stamp differs: an interrupted build, or a change of code or sources, builds it again.
/// </summary>
internal static class StampedFolder
{
    public const string StampFile = "build.txt";

    /// <summary>True when <paramref name="folder"/> has no <paramref name="manifestName"/>, no stamp, or another stamp.</summary>
    public static bool IsStale(string folder, string manifestName, string stamp)
    {
        string stampPath = Path.Combine(folder, StampFile);
        return !File.Exists(Path.Combine(folder, manifestName)) || !File.Exists(stampPath) || File.ReadAllText(stampPath) != stamp;
    }

    /// <summary>Starts a build: returns an empty <c>FOLDER.building</c>, removing what an interrupted build left.</summary>
    public static string Begin(string folder)
    {
        string building = folder + ".building";
        if (Directory.Exists(building)) Directory.Delete(building, recursive: true);
        Directory.CreateDirectory(building);
        return building;
    }

    /// <summary>Stamps the finished <paramref name="building"/> folder and moves it into the place of <paramref name="folder"/>.</summary>
    public static void Commit(string building, string folder, string stamp)
    {
        File.WriteAllText(Path.Combine(building, StampFile), stamp);
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        Directory.Move(building, folder);
    }
}
