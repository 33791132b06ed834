using BiVM.Data.Media;
using BiVM.Data.Synthesis;

namespace BiVM.Data.Tests;

public class MediaTests
{
    // The real-people files the data-hygiene rule reserves (media-and-data.md): never in training.
    private static readonly string[] ReservedIds =
    [
        "python3-skimage:astronaut.png", "python3-skimage:camera.png", "opencv-doc:messi5.jpg",
        "opencv-doc:basketball1.png", "opencv-doc:vtest.avi",
    ];

    [Fact]
    public void Every_catalogued_file_is_on_disk_after_install()
    {
        var locator = MediaLocator.Default(); // throws "run ./install.sh" when nothing was fetched
        locator.RequireAll(MediaCatalog.All);
        foreach (var file in MediaCatalog.All) Assert.True(new FileInfo(locator.PathOf(file)).Length > 0, file.Id);
    }

    [Fact]
    public void Ids_are_unique_and_name_plasma_wallpapers_by_folder()
    {
        Assert.Equal(MediaCatalog.All.Count, MediaCatalog.All.Select(f => f.Id).Distinct().Count());
        Assert.Equal("plasma-workspace-wallpapers:Autumn.jpg", MediaCatalog.Get("plasma-workspace-wallpapers:Autumn.jpg").Id);
    }

    [Fact]
    public void Reserved_real_people_media_is_in_validation_but_never_in_training()
    {
        foreach (string id in ReservedIds) Assert.Equal(MediaUse.ReservedRealPeople, MediaCatalog.Get(id).Use);
        var training = MediaCatalog.For(DataSplit.Training, MediaKind.Photo).Concat(MediaCatalog.For(DataSplit.Training, MediaKind.Video)).Select(f => f.Id).ToHashSet();
        var validation = MediaCatalog.For(DataSplit.Validation, MediaKind.Photo).Concat(MediaCatalog.For(DataSplit.Validation, MediaKind.Video)).Select(f => f.Id).ToHashSet();
        foreach (string id in ReservedIds)
        {
            Assert.DoesNotContain(id, training);
            Assert.Contains(id, validation);
        }
        Assert.True(training.Count >= 30, $"only {training.Count} training files");
        Assert.Contains(MediaCatalog.For(DataSplit.Training, MediaKind.Video), f => f.Id == "opencv-doc:Megamind.avi");
    }

    [Fact]
    public void Training_generator_draws_only_from_unreserved_files()
    {
        var sources = TestMedia.Training.Sources.Select(f => f.Id).ToArray();
        Assert.NotEmpty(sources);
        Assert.Empty(sources.Intersect(ReservedIds));
        foreach (var clip in TestMedia.Clips)
            foreach (string id in ReservedIds)
                Assert.DoesNotContain(id, clip.Description);
    }

    [Fact]
    public void Validation_uses_reserved_photos_only_as_textures_never_as_backgrounds()
    {
        var generator = new ClipGenerator(TestMedia.Small, DataSplit.Validation);
        Assert.Contains(generator.Sources, f => f.Id == "python3-skimage:astronaut.png");
        Assert.DoesNotContain(generator.Sources, f => f.Id == "opencv-doc:vtest.avi");
        foreach (var clip in generator.Stream(seed: 3, count: 4))
        {
            string background = clip.Description[(clip.Description.IndexOf("background=", StringComparison.Ordinal) + 11)..];
            foreach (string id in ReservedIds) Assert.False(background.StartsWith(id, StringComparison.Ordinal), clip.Description);
        }
    }

    [Fact]
    public void Manifest_docs_and_fetch_script_cover_every_file()
    {
        string root = TestMedia.RepositoryRoot();
        string docs = File.ReadAllText(Path.Combine(root, "docs", "media.md"));
        string script = File.ReadAllText(Path.Combine(root, "scripts", "fetch-media.sh"));
        string manifest = MediaCatalog.FormatManifest();
        foreach (var file in MediaCatalog.All)
        {
            Assert.Contains(file.PathInPackage, manifest);
            Assert.True(docs.Contains($"`{file.PathInPackage}`"), $"docs/media.md does not list {file.PathInPackage}");
        }
        foreach (string package in MediaCatalog.Packages)
            Assert.Matches($@"PACKAGES=\([^)]*\b{package}\b", script);
    }

    [Fact]
    public void People_manifest_docs_and_fetch_scripts_cover_every_source()
    {
        string root = TestMedia.RepositoryRoot();
        string docs = File.ReadAllText(Path.Combine(root, "docs", "media.md"));
        string media = File.ReadAllText(Path.Combine(root, "scripts", "fetch-media.sh"));
        string people = File.ReadAllText(Path.Combine(root, "scripts", "fetch-people.sh"));
        foreach (string row in MediaCatalog.FormatPeopleManifest().Split('\n', StringSplitOptions.RemoveEmptyEntries))
            Assert.True(docs.Contains(row.TrimEnd('\r')), $"docs/media.md lacks the people row: {row}");
        foreach (var source in MediaCatalog.People.Where(p => p.Origin == "debian"))
            Assert.Matches($@"PACKAGES=\([^)]*\b{source.Package}\b", media);
        foreach (var (package, version) in MediaCatalog.NpmPackages)
        {
            Assert.Contains($"\"{package}@{version}\"", people);
            Assert.Contains($"{package} {version}", docs);
        }
    }

    [Fact]
    public void Missing_media_names_the_package_and_the_fix()
    {
        string empty = Directory.CreateTempSubdirectory("bivm-media-").FullName;
        try
        {
            var locator = new MediaLocator(empty);
            var ex = Assert.Throws<MediaMissingException>(() => locator.PathOf(MediaCatalog.Get("opencv-doc:Megamind.avi")));
            Assert.Contains("opencv-doc", ex.Message);
            Assert.Contains("./install.sh", ex.Message);
            var all = Assert.Throws<MediaMissingException>(() => locator.RequireAll(MediaCatalog.All));
            Assert.Contains($"{MediaCatalog.All.Count} media file(s) missing", all.Message);
        }
        finally
        {
            Directory.Delete(empty, recursive: true);
        }
    }
}
