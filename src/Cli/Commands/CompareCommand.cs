using System.CommandLine;
using BiVM.Cli.Matting;

namespace BiVM.Cli.Commands;

/// <summary><c>bivm compare INPUT --model A --model B … --out FIGURE.png</c>: one frame composited by several models, side by side.</summary>
internal static class CompareCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("INPUT") { Description = "A video file, an image, or a folder of images." };
        var models = new Option<string[]>("--model") { Description = "ONNX model file(s); one tile each, in this order.", Required = true, AllowMultipleArgumentsPerToken = true };
        var output = new Option<string>("--out") { Description = "The figure (.png or .jpg).", DefaultValueFactory = _ => "compare.png" };
        var frame = new Option<int>("--frame") { Description = "Which frame to show (0-based); the frames before it warm up each model's recurrent state.", DefaultValueFactory = _ => 0 };
        var background = new Option<string>("--background") { Description = "Colour (green, white, #RRGGBB, R,G,B), image file, or video file.", DefaultValueFactory = _ => "green" };
        var columns = new Option<int>("--columns") { Description = "Tiles per row.", DefaultValueFactory = _ => 2 };
        var scale = new Option<double>("--scale") { Description = "Tile size relative to the input frame, in (0, 1].", DefaultValueFactory = _ => 0.5 };
        var threads = new Option<int>("--threads") { Description = "ONNX Runtime intra-op threads (0: one per core).", DefaultValueFactory = _ => 0 };

        var command = new Command("compare", "Composite one frame with several models and write the results side by side in one image.");
        command.Arguments.Add(input);
        foreach (var option in new Option[] { models, output, frame, background, columns, scale, threads }) command.Options.Add(option);
        command.SetAction((parse, cancel) =>
        {
            try
            {
                string path = ComparisonFigure.Run(new CompareRequest(parse.GetValue(input)!, parse.GetValue(models)!, parse.GetValue(output)!,
                    parse.GetValue(frame), parse.GetValue(background)!, parse.GetValue(columns), parse.GetValue(scale), parse.GetValue(threads)), cancel);
                parse.InvocationConfiguration.Output.WriteLine($"wrote {path}");
                return Task.FromResult(0);
            }
            catch (Exception e) when (CliErrors.IsUserError(e))
            {
                parse.InvocationConfiguration.Error.WriteLine($"bivm compare: {e.Message}");
                return Task.FromResult(1);
            }
        });
        return command;
    }
}
