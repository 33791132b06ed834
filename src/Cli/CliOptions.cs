using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using BiVM.Model;

namespace BiVM.Cli;

/// <summary>A frame size given as WIDTHxHEIGHT.</summary>
internal readonly record struct FrameSize(int Width, int Height)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Width}x{Height}");
}

/// <summary>
/// The options that mean the same thing in several commands, made in one place so that each meaning has one name
/// everywhere: <c>--family</c> is a model family (rvm, rvm-react, bivm), <c>--model</c> an ONNX file,
/// <c>--downsample</c> RVM's downsample ratio, <c>--threads</c> intra-op threads, <c>--size</c> WIDTHxHEIGHT.
/// A value out of range is a parse error (exit code 2), reported before any work starts.
/// </summary>
internal static class CliOptions
{
    public static Option<ModelFamily> Family(string description, bool required = true) => new("--family")
    {
        Description = description,
        Required = required,
        HelpName = ModelFamilyNames.All,
        CustomParser = result =>
        {
            string text = result.Tokens.Single().Value;
            if (!ModelFamilyNames.TryParse(text, out var family)) result.AddError($"--family '{text}': expected one of {ModelFamilyNames.All.Replace("|", ", ")}");
            return family;
        },
    };

    /// <summary><c>--family</c> given, or null: for commands where the family is optional.</summary>
    public static ModelFamily? FamilyIfGiven(ParseResult parse, Option<ModelFamily> option) =>
        parse.GetResult(option) is { Implicit: false } ? parse.GetValue(option) : null;

    public static Option<string?> Model(string description) => new("--model") { Description = description, HelpName = "FILE" };

    public static Option<string[]> Models(string description) => new("--model")
    {
        Description = description,
        HelpName = "FILE",
        Required = true,
        AllowMultipleArgumentsPerToken = true,
    };

    public static Option<float?> Downsample(string description) =>
        new Option<float?>("--downsample") { Description = description, HelpName = "R" }.Require(r => r > 0 && r <= 1, "must be in (0, 1]");

    public static Option<int> Threads(string description = "ONNX Runtime intra-op threads (0: one per core).") =>
        new Option<int>("--threads") { Description = description, HelpName = "N", DefaultValueFactory = _ => 0 }.Require(t => t >= 0, "must be 0 or more");

    public static Option<FrameSize> Size(string description, FrameSize defaultSize, int minimum = 1) => new("--size")
    {
        Description = description,
        HelpName = "WIDTHxHEIGHT",
        DefaultValueFactory = _ => defaultSize,
        CustomParser = result =>
        {
            string text = result.Tokens.Single().Value;
            var parts = text.ToLowerInvariant().Split('x');
            if (parts.Length == 2
                && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int width)
                && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int height)
                && width >= minimum && height >= minimum)
                return new FrameSize(width, height);
            result.AddError($"--size '{text}': expected WIDTHxHEIGHT, at least {minimum}x{minimum}");
            return defaultSize;
        },
    };

    /// <summary>
    /// Checks the option's value when it is given; a failure is a parse error that names the option, the value and
    /// <paramref name="rule"/> (e.g. "must be at least 1").
    /// </summary>
    public static Option<T> Require<T>(this Option<T> option, Func<T, bool> isValid, string rule)
    {
        option.Validators.Add(result =>
        {
            if (result.GetValue(option) is { } value && !isValid(value))
                result.AddError(string.Format(CultureInfo.InvariantCulture, "{0} {1}: {2}", option.Name, value, rule));
        });
        return option;
    }
}
