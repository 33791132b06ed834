using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using BiVM.Contracts;
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

    /// <summary>
    /// <c>--downsample R</c>, a number in (0, 1]. Whether R is large enough depends on the frame: the network input
    /// (H·R, W·R) must hold at least one cell of the encoder's coarsest feature map, which <c>VideoMatter</c> checks
    /// when it sees the first frame's size (<see cref="MattingContract.SmallestDownsampleRatio"/>).
    /// </summary>
    public static Option<float?> Downsample(string description) => new("--downsample")
    {
        Description = description,
        HelpName = "R",
        CustomParser = result =>
        {
            string text = result.Tokens.Single().Value;
            if (float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float ratio) && ratio > 0f && ratio <= 1f)
                return ratio;
            result.AddError($"--downsample '{text}': expected a number in (0, 1], such as 0.25 (the network runs at that fraction of the frame size)");
            return null;
        },
    };

    /// <summary>
    /// The most intra-op threads a command accepts: four per core. More threads than cores only wait for each other
    /// (one 768×576 frame took 187 s with 1000 threads on 2 cores, 1.9 s with 2), and a typo such as 1000 should
    /// not load the machine for minutes.
    /// </summary>
    public static int MaxThreads => 4 * Environment.ProcessorCount;

    public static Option<int> Threads(string description = "ONNX Runtime intra-op threads (0: one per core).") =>
        new Option<int>("--threads") { Description = description, HelpName = "N", DefaultValueFactory = _ => 0 }.Require(t => t >= 0 && t <= MaxThreads, ThreadsRule(minimum: 0));

    /// <summary>The rule <c>--threads</c> states when its value is out of range.</summary>
    public static string ThreadsRule(int minimum) =>
        string.Create(CultureInfo.InvariantCulture, $"must be between {minimum} and {MaxThreads} (4 per core; this machine has {Environment.ProcessorCount})");

    /// <summary><c>--no-verify</c>: load a model file whose integrity checksum does not match (<see cref="ModelChecksum"/>).</summary>
    public static Option<bool> NoVerify() => new("--no-verify")
    {
        Description = "Load a model even when its content does not match the checksum bivm export wrote into it (a file edited on purpose). Files without a checksum always load.",
    };

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
