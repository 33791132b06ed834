using System.CommandLine;
using BiVM.Cli.Matting;

namespace BiVM.Cli.Commands;

/// <summary><c>bivm compare INPUT --model A --model B … --out FIGURE.png</c>: one frame composited by several models, side by side.</summary>
internal static class CompareCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("INPUT") { Description = "A video file, an image, or a folder of images." };
        var models = CliOptions.Models("ONNX model file(s); one tile each, in this order.");
        var output = new Option<string>("--out") { Description = "The figure (.png or .jpg).", DefaultValueFactory = _ => "compare.png" };
        var frame = new Option<int>("--frame") { Description = "Which frame to show (0-based); the frames before it warm up each model's recurrent state.", DefaultValueFactory = _ => 0 }
            .Require(f => f >= 0, "must be 0 or more");
        var background = new Option<string>("--background") { Description = "Colour (green, white, #RRGGBB, R,G,B), image file, or video file.", DefaultValueFactory = _ => "green" };
        var columns = new Option<int>("--columns") { Description = "Tiles per row.", DefaultValueFactory = _ => 2 }.Require(c => c >= 1, "must be at least 1");
        var scale = new Option<double>("--scale") { Description = "Tile size relative to the input frame, in (0, 1].", DefaultValueFactory = _ => 0.5 }
            .Require(s => s > 0 && s <= 1, "must be in (0, 1]");
        var threads = CliOptions.Threads();
        var noVerify = CliOptions.NoVerify();

        var command = new Command("compare", "Composite one frame with several models and write the results side by side in one image.");
        command.Arguments.Add(input);
        foreach (var option in new Option[] { models, output, frame, background, columns, scale, threads, noVerify }) command.Options.Add(option);
        CommandRunner.SetAction(command, (parse, cancel) =>
        {
            string path = ComparisonFigure.Run(new CompareRequest(parse.GetValue(input)!, parse.GetValue(models)!, parse.GetValue(output)!,
                parse.GetValue(frame), parse.GetValue(background)!, parse.GetValue(columns), parse.GetValue(scale), parse.GetValue(threads), !parse.GetValue(noVerify)), cancel);
            parse.InvocationConfiguration.Output.WriteLine($"wrote {path}");
            return ExitCodes.Ok;
        });
        return command;
    }
}
