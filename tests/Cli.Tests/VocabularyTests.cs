using System.CommandLine;
using BiVM.Model;

namespace BiVM.Cli.Tests;

/// <summary>One name per meaning in every command: --family is a model family, --model an ONNX file, --downsample the ratio.</summary>
public sealed class VocabularyTests
{
    private static IEnumerable<(string Command, Option Option)> AllOptions() =>
        BivmCommandLine.Build().Subcommands.SelectMany(c => c.Options.Select(o => (c.Name, o)));

    [Fact]
    public void Each_shared_option_name_has_one_type_in_every_command()
    {
        var expected = new Dictionary<string, Type[]>
        {
            ["--family"] = [typeof(ModelFamily)],
            ["--model"] = [typeof(string), typeof(string[])],
            ["--downsample"] = [typeof(float?)],
            ["--threads"] = [typeof(int), typeof(int?)],
            ["--size"] = [typeof(FrameSize)],
        };
        var seen = new HashSet<string>();
        foreach (var (command, option) in AllOptions())
        {
            if (!expected.TryGetValue(option.Name, out var types)) continue;
            seen.Add(option.Name);
            Assert.True(types.Contains(option.ValueType), $"bivm {command} {option.Name} is {option.ValueType.Name}");
        }
        Assert.Equal(expected.Keys.Order(), seen.Order());
    }

    [Fact]
    public void The_old_names_are_gone()
    {
        Assert.DoesNotContain(AllOptions(), o => o.Option.Name == "--downsample-ratio");
        foreach (var command in new[] { "export", "flops", "train" })
            Assert.DoesNotContain(AllOptions(), o => o.Command == command && o.Option.Name == "--model");
    }

    [Fact]
    public void Flops_takes_the_family_and_the_downsample_ratio_by_their_shared_names()
    {
        var (code, stdout, stderr) = CliRunner.Run("flops", "--family", "rvm", "--size", "64x48", "--downsample", "0.5", "--json");
        Assert.True(code == 0, stderr);
        Assert.Contains("refiner", stdout);   // the Deep Guided Filter runs below ratio 1
    }
}
