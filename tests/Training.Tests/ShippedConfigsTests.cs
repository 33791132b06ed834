using BiVM.Contracts;
using BiVM.Model;
using BiVM.Tests.Shared;

namespace BiVM.Training.Tests;

/// <summary>The training configurations in configs/: they load, and the families compared in the README share one budget.</summary>
public class ShippedConfigsTests
{
    private static string ConfigDir()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "BiVM.Onnx.sln"))) return Path.Combine(dir.FullName, "configs");
        throw new InvalidOperationException($"No BiVM.Onnx.sln above {AppContext.BaseDirectory}.");
    }

    [Fact]
    public void Every_config_loads_and_the_compared_families_share_data_steps_rates_and_normalization()
    {
        var configs = Directory.GetFiles(ConfigDir(), "*.json").ToDictionary(f => Path.GetFileNameWithoutExtension(f), TrainingConfig.Load);
        foreach (var config in configs.Values) config.Validate();

        string[] compared = ["rvm", "rvm-react", "bivm-fp", "bivm", "bivm-nolbm"];
        var reference = configs["rvm"];
        foreach (var name in compared)
        {
            var c = configs[name];
            Assert.Equal(reference.DataSeed, c.DataSeed);
            Assert.Equal(reference.Seed, c.Seed);
            Assert.Equal(reference.Stages.Count, c.Stages.Count);
            // Everything but LBM and the schedule (rates, their decay, steps) is the same, stage by stage
            // (records compare by value).
            for (int s = 0; s < c.Stages.Count; s++)
                Assert.Equal(reference.Stages[s] with { LearningRates = c.Stages[s].LearningRates, FinalRateScale = c.Stages[s].FinalRateScale, Steps = c.Stages[s].Steps },
                    c.Stages[s] with { Lbm = false });
            Assert.Equal(reference.Normalization, c.Normalization);
        }
        // The schedule depends on the precision only: the 1-bit families share theirs, the 32-bit ones
        // theirs; the 1-bit one is longer (paper §3.5.1: extra steps for the binarized network to converge).
        static object Schedule(StageConfig s) => (s.LearningRates, s.FinalRateScale, s.Steps);
        foreach (var group in new[] { new[] { "rvm", "bivm-fp" }, new[] { "rvm-react", "bivm", "bivm-nolbm" } })
            foreach (var name in group)
                Assert.Equal(configs[group[0]].Stages.Select(Schedule), configs[name].Stages.Select(Schedule));
        Assert.True(configs["bivm"].TotalSteps >= configs["bivm-fp"].TotalSteps);
        // Both 1-bit families start from calibrated thresholds, so they differ in architecture only.
        Assert.All(new[] { "rvm-react", "bivm", "bivm-nolbm" }, name => Assert.True(configs[name].CalibrateThresholds, name));
        Assert.True(configs["bivm"].Stages[0].Lbm);
        Assert.Equal(configs["bivm"].Stages.Select(s => s with { Lbm = false }), configs["bivm-nolbm"].Stages);
    }

    [Fact]
    public void Decoder_widths_load_and_widths_no_decoder_has_are_refused()
    {
        using var folder = new TempFolder("bivm-config-");
        string narrow = folder.File("narrow.json"), odd = folder.File("odd.json");
        File.WriteAllText(narrow, """{ "family": "bivm", "decoderChannels": [80, 40, 16, 8], "stages": [ { "steps": 1 } ] }""");
        Assert.Equal([80L, 40, 16, 8], TrainingConfig.Load(narrow).DecoderChannels);
        File.WriteAllText(odd, """{ "family": "bivm", "decoderChannels": [80, 40, 15, 8], "stages": [ { "steps": 1 } ] }""");
        var e = Assert.Throws<UserInputException>(() => TrainingConfig.Load(odd));
        Assert.Contains("decoderChannels", e.Message);
        Assert.Contains(odd, e.Message);
        Assert.All(Directory.GetFiles(ConfigDir(), "*.json").Select(TrainingConfig.Load), c => Assert.Equal([80L, 40, 32, 16], c.DecoderChannels));
    }

    [Fact]
    public void An_unknown_key_fails_the_load_and_names_it()
    {
        using var folder = new TempFolder("bivm-config-");
        string path = folder.File("typo.json");
        File.WriteAllText(path, """{ "family": "rvm", "stages": [ { "steps": 1, "batchNrom": "running" } ] }""");
        var e = Assert.Throws<UserInputException>(() => TrainingConfig.Load(path));
        Assert.Contains("batchNrom", e.Message);
        Assert.Contains(path, e.Message);
    }
}
