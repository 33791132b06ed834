using System.Security.Cryptography;
using BiVM.Data.Media;
using BiVM.Data.People;

namespace BiVM.People.Tests;

/// <summary>
/// The bank built from the real sources. Needs ./install.sh (scripts/fetch-people.sh): the photos,
/// and the teacher's alphas in .data/people/alpha. The teacher itself never runs here: a build that
/// would need it fails the test, so these stay fast.
/// </summary>
public sealed class PeopleBankTests : IDisposable
{
    private readonly PeopleWorkspace _real = PeopleWorkspace.Default();
    private readonly string _temp = Directory.CreateTempSubdirectory("bivm-people-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    /// <summary>A workspace whose sources and alpha cache are the real ones and whose outputs go to a temporary folder.</summary>
    private PeopleWorkspace Scratch(string name)
    {
        string root = Path.Combine(_temp, name);
        Directory.CreateDirectory(Path.Combine(root, "people"));
        Directory.CreateSymbolicLink(Path.Combine(root, "debian"), Path.Combine(_real.DataRoot, "debian"));
        Directory.CreateSymbolicLink(Path.Combine(root, "npm"), Path.Combine(_real.DataRoot, "npm"));
        Directory.CreateSymbolicLink(Path.Combine(root, "people", "alpha"), _real.AlphaCache);
        return new PeopleWorkspace(root);
    }

    private static IsNetTeacher NoTeacher() =>
        throw new InvalidOperationException("a teacher alpha is not cached: run scripts/fetch-people.sh before the tests");

    [Fact]
    public void Bank_is_deterministic_and_follows_the_review()
    {
        var a = Scratch("a");
        var b = Scratch("b");
        var first = BankBuilder.Build(a, NoTeacher, TextWriter.Null);
        var second = BankBuilder.Build(b, NoTeacher, TextWriter.Null);
        Assert.Equal(first, second);
        Assert.Equal(File.ReadAllText(Path.Combine(a.Bank, PeopleBank.ManifestName)), File.ReadAllText(Path.Combine(b.Bank, PeopleBank.ManifestName)));
        foreach (var e in first.Where(e => e.RejectedBecause is null))
            Assert.Equal(SHA256.HashData(File.ReadAllBytes(Path.Combine(a.Bank, e.CutOut.File))), SHA256.HashData(File.ReadAllBytes(Path.Combine(b.Bank, e.CutOut.File))));

        // Rejected cut-outs are recorded, never banked.
        var bank = PeopleBank.Open(a.Bank);
        Assert.Equal(PeopleReview.Rejected.Keys.Order(), first.Where(e => e.RejectedBecause is not null).Select(e => e.CutOut.Id).Order());
        Assert.DoesNotContain(bank.All, c => PeopleReview.Rejected.ContainsKey(c.Id));
        Assert.All(PeopleReview.Rejected.Keys, id => Assert.Contains(first, e => e.CutOut.Id == id));
        Assert.True(File.Exists(a.ContactSheet));

        // Each cut-out is in one split, validation has people, and the stored size is the decoded one.
        Assert.Equal(bank.All.Count, bank.For(DataSplit.Training).Count + bank.For(DataSplit.Validation).Count);
        Assert.NotEmpty(bank.For(DataSplit.Validation));
        foreach (var cut in bank.All)
        {
            var image = bank.Image(cut);
            Assert.Equal((cut.Width, cut.Height), (image.Width, image.Height));
            Assert.True(Math.Max(cut.Width, cut.Height) <= CutOutExtraction.MaxLongSide);
        }
    }

    [Fact]
    public void Every_teacher_source_has_a_cached_alpha_keyed_by_its_hash()
    {
        foreach (var source in MediaCatalog.People.Where(p => !p.HasAlpha))
        {
            string sha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(_real.PathOf(source))));
            Assert.True(File.Exists(Path.Combine(_real.AlphaCache, sha + ".png")), $"{source.Id}: no cached teacher alpha; run scripts/fetch-people.sh");
        }
    }
}
