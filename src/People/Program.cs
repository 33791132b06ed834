using BiVM.Data.Media;
using BiVM.People;

// bivm-people prepare [--force] [--score-teacher]: joins the teacher, builds the people bank
// (teacher alphas cached by photo hash), writes the contact sheet and the real-people validation
// set, then the teacher frames (real frames whose target is the published RVM's alpha; ~800 RVM passes, a few minutes). Each step is skipped when its output exists; --force rebuilds the bank and the set (the
// teacher alphas stay cached). --score-teacher also scores all background and the teacher on the
// set (one teacher pass per frame: 160 frames, minutes; docs/people.md has the numbers), which is
// why install.sh's run (scripts/fetch-people.sh) leaves it out.
const string Usage = "usage: bivm-people prepare [--force] [--score-teacher]";
string[] known = ["--force", "--score-teacher"];
if (args.Length == 0 || args[0] != "prepare" || args.Skip(1).Any(a => !known.Contains(a)))
{
    Console.Error.WriteLine(Usage);
    return 2;
}
bool force = args.Contains("--force"), score = args.Contains("--score-teacher");
try
{
    var workspace = PeopleWorkspace.Default();
    var log = Console.Out;
    if (!File.Exists(workspace.TeacherModel))
    {
        ChunkedResource.Join(workspace.TeacherDist, "/models/medium", workspace.TeacherModel);
        log.WriteLine($"people: joined the teacher into {workspace.TeacherModel} (every chunk's SHA-256 checked)");
    }
    IsNetTeacher? teacher = null;
    IsNetTeacher Teacher() => teacher ??= new IsNetTeacher(workspace.TeacherModel);
    try
    {
        bool rebuilt = false;
        if (force || BankBuilder.IsStale(workspace))
        {
            var entries = BankBuilder.Build(workspace, Teacher, log);
            log.WriteLine($"people: bank {workspace.Bank}: {entries.Count(e => e.RejectedBecause is null)} cut-outs kept, {entries.Count(e => e.RejectedBecause is not null)} rejected; review {workspace.ContactSheet}");
            rebuilt = true;
        }
        if (rebuilt || RealPeopleValidation.IsStale(workspace))
        {
            RealPeopleValidation.Write(workspace, log);
            rebuilt = true;
        }
        if (force || TeacherFrameBuilder.IsStale(workspace))
        {
            using var rvm = new RvmTeacher(workspace.RvmTeacherModel);
            TeacherFrameBuilder.Build(workspace, rvm, log);
            rebuilt = true;
        }
        if (score) RealPeopleValidation.Score(workspace, Teacher(), log);
        else if (!rebuilt) log.WriteLine($"people: up to date ({workspace.Bank}, {workspace.ValidationSet}); --force rebuilds");
    }
    finally
    {
        teacher?.Dispose();
    }
    return 0;
}
catch (Exception e) when (e is MediaMissingException or IOException or InvalidDataException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"bivm-people: {e.Message}");
    return 1;
}
