namespace BiVM.People;

/// <summary>
/// The review of the contact sheet (.data/people/contact-sheet.png), cut-out by cut-out: what was
/// rejected and why. A rejected cut-out is written to .data/people/rejected/ for the record, never
/// to the bank. Ids are "&lt;source id&gt;#&lt;k&gt;", k counting cut-outs left to right.
/// </summary>
public static class PeopleReview
{
    public static IReadOnlyDictionary<string, string> Rejected { get; } = new Dictionary<string, string>
    {
        ["darknet:person.jpg#1"] = "the horse beside the woman: not a person (ISNet segments salient objects, not people)",
        ["darknet:kite.jpg#0"] = "the surf and spray of the beach: ISNet missed the two people (about 150 px tall) and kept the breaking wave",
        ["tuxpaint-stamps-default:paratrooper.png#0"] = "the parachute canopy: not a person (its cords connect it to the paratrooper only through thin, translucent lines)",
    };
}
