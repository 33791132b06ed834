using System.CommandLine;
using System.Globalization;
using BiVM.Model;
using BiVM.Model.Cost;
using BiVM.Model.Networks;

namespace BiVM.Cli.Commands;

/// <summary>
/// <c>bivm flops</c>: parameters, stored size (1-bit weights at 1 bit) and FLOPs (binary MACs / 64) of a
/// model family at an input size, from one forward pass of a freshly built network (docs/model.md).
/// </summary>
internal static class FlopsCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model family: rvm, rvm-react or bivm.", Required = true };
        model.AcceptOnlyFromAmong("rvm", "rvm-react", "bivm");
        var size = new Option<string>("--size") { Description = "Input size WIDTHxHEIGHT.", DefaultValueFactory = _ => "512x288" };
        var ratio = new Option<double>("--downsample-ratio") { Description = "RVM's downsample_ratio; below 1 the Deep Guided Filter runs.", DefaultValueFactory = _ => 1.0 };
        var density = new Option<double>("--mask-density") { Description = "Fraction of active positions of SHB's masked 3x3 convs (bivm).", DefaultValueFactory = _ => 1.0 };
        var fullPrecision = new Option<bool>("--full-precision") { Description = "bivm only: the 32-bit counterpart (teacher / ablation)." };
        var perLayer = new Option<bool>("--per-layer") { Description = "List every layer instead of the totals per part." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON." };
        var command = new Command("flops", "Count parameters, stored size and FLOPs of a model family.");
        foreach (var option in new Option[] { model, size, ratio, density, fullPrecision, perLayer, json }) command.Options.Add(option);
        command.SetAction(parse =>
        {
            var error = parse.InvocationConfiguration.Error;
            if (!TryParseSize(parse.GetValue(size)!, out var width, out var height))
            {
                error.WriteLine($"bivm flops: --size must be WIDTHxHEIGHT with positive integers, got '{parse.GetValue(size)}'.");
                return 2;
            }
            var family = ModelFamilyNames.Parse(parse.GetValue(model)!);
            if (parse.GetValue(fullPrecision) && family != ModelFamily.Bivm)
            {
                error.WriteLine("bivm flops: --full-precision applies to --model bivm only.");
                return 2;
            }
            var r = parse.GetValue(ratio);
            var d = parse.GetValue(density);
            if (r is <= 0 or > 1 || d is < 0 or > 1)
            {
                error.WriteLine("bivm flops: --downsample-ratio must be in (0, 1] and --mask-density in [0, 1].");
                return 2;
            }
            using var network = ModelFactory.Create(family, ModelConfig.For(family, parse.GetValue(fullPrecision)));
            var report = CostCounter.Measure(network, height, width, r, d);
            var output = parse.InvocationConfiguration.Output;
            output.Write(parse.GetValue(json) ? report.ToJson(parse.GetValue(perLayer)) + Environment.NewLine : report.ToText(parse.GetValue(perLayer)));
            return 0;
        });
        return command;
    }

    private static bool TryParseSize(string text, out long width, out long height)
    {
        width = height = 0;
        var parts = text.ToLowerInvariant().Split('x');
        return parts.Length == 2
            && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out width)
            && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out height)
            && width > 0 && height > 0;
    }
}
