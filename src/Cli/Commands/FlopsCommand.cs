using System.CommandLine;
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
        var family = CliOptions.Family("Model family.");
        var size = CliOptions.Size("Input size.", new FrameSize(512, 288));
        var downsample = CliOptions.Downsample("Downsample ratio in (0, 1]; below 1 the Deep Guided Filter runs. Default: 1.");
        var density = new Option<double>("--mask-density") { Description = "Fraction of active positions of SHB's masked 3x3 convs (bivm).", DefaultValueFactory = _ => 1.0 }
            .Require(d => d >= 0 && d <= 1, "must be in [0, 1]");
        var fullPrecision = new Option<bool>("--full-precision") { Description = "bivm only: the 32-bit counterpart (teacher / ablation)." };
        var perLayer = new Option<bool>("--per-layer") { Description = "List every layer instead of the totals per part." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON." };
        var command = new Command("flops", "Count parameters, stored size and FLOPs of a model family.");
        foreach (var option in new Option[] { family, size, downsample, density, fullPrecision, perLayer, json }) command.Options.Add(option);
        command.Validators.Add(result =>
        {
            if (result.GetValue(fullPrecision) && result.GetValue(family) != ModelFamily.Bivm) result.AddError("--full-precision applies to --family bivm only");
        });
        CommandRunner.SetAction(command, (parse, _) =>
        {
            var chosen = parse.GetValue(family);
            var (width, height) = parse.GetValue(size);
            using var network = ModelFactory.Create(chosen, ModelConfig.For(chosen, parse.GetValue(fullPrecision)));
            var report = CostCounter.Measure(network, height, width, parse.GetValue(downsample) ?? 1.0, parse.GetValue(density));
            parse.InvocationConfiguration.Output.Write(parse.GetValue(json) ? report.ToJson(parse.GetValue(perLayer)) + Environment.NewLine : report.ToText(parse.GetValue(perLayer)));
            return ExitCodes.Ok;
        });
        return command;
    }
}
