using BiVM.Contracts;
using BiVM.Model.Networks;
using TorchSharp;
using static TorchSharp.torch;

namespace BiVM.Model.Tests.Networks;

public class ModelCheckpointTests
{
    /// <summary>
    /// Weights saved before the binary convs had a gain (every run folder of earlier sessions) load with gain 1, what
    /// those networks computed; a file missing any other tensor still fails with one line naming it.
    /// </summary>
    [Fact]
    public void Weights_written_before_the_gains_load_with_gain_one_and_a_file_missing_more_fails()
    {
        using var scope = NewDisposeScope();
        var directory = Directory.CreateTempSubdirectory("bivm-ckpt-gain-");
        try
        {
            manual_seed(63);
            using var net = ModelFactory.Create(ModelFamily.RvmReact);
            var gains = net.named_buffers().Where(b => b.name.EndsWith(".gain")).Select(b => b.name).ToList();
            Assert.NotEmpty(gains);
            var path = Path.Combine(directory.FullName, "model.bin");
            ModelCheckpoint.Save(net, path);
            net.save(path, skip: gains);   // the old format: the same file without the gains
            using (no_grad())
                foreach (var (name, buffer) in net.named_buffers()) if (name.EndsWith(".gain")) buffer.fill_(3);
            using (var loaded = ModelCheckpoint.Load(path))
            {
                Assert.All(loaded.named_buffers().Where(b => b.name.EndsWith(".gain")), b => Assert.Equal(1f, b.buffer.min().item<float>()));
                var weight = loaded.named_parameters().First(p => p.name.EndsWith("conv.weight") && !p.name.StartsWith("backbone.stem"));
                Assert.True(weight.parameter.equal(net.named_parameters().First(p => p.name == weight.name).parameter).all().item<bool>());
            }

            var tau = net.named_parameters().First(p => p.name.EndsWith(".tau")).name;
            net.save(path, skip: [.. gains, tau]);
            var e = Assert.Throws<UserInputException>(() => ModelCheckpoint.Load(path));
            Assert.Contains(path, e.Message);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData(ModelFamily.Bivm, false)]
    [InlineData(ModelFamily.Bivm, true)]
    [InlineData(ModelFamily.RvmReact, false)]
    public void Save_then_load_gives_identical_outputs(ModelFamily family, bool fullPrecision)
    {
        using var scope = NewDisposeScope();
        var directory = Directory.CreateTempSubdirectory("bivm-ckpt-");
        try
        {
            manual_seed(61);
            var config = ModelConfig.For(family, fullPrecision) with { ShbMaskDensities = new[] { 0.2, 0.4 } };
            using var net = ModelFactory.Create(family, config);
            // One training-mode pass moves the BN running statistics away from their defaults.
            net.train();
            using (no_grad()) net.call(rand(2, 3, 32, 32), null, 1.0);
            net.eval();
            var path = Path.Combine(directory.FullName, "model.bin");
            ModelCheckpoint.Save(net, path);
            Assert.True(File.Exists(Path.Combine(directory.FullName, "model.json")));

            manual_seed(62); // different fresh initialisation before loading
            using var loaded = ModelCheckpoint.Load(path);
            loaded.eval();
            Assert.Equal(config.Family, loaded.Config.Family);
            Assert.Equal(config.FullPrecision, loaded.Config.FullPrecision);
            Assert.Equal(config.ShbMaskDensities, loaded.Config.ShbMaskDensities);
            using var _ = no_grad();
            var src = rand(1, 3, 36, 40);
            var a = net.call(src, null, 1.0);
            var b = loaded.call(src, null, 1.0);
            Assert.True(a.Pha.eq(b.Pha).all().item<bool>());
            Assert.True(a.Fgr.eq(b.Fgr).all().item<bool>());
            Assert.True(a.State.R2.eq(b.State.R2).all().item<bool>());
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void Configuration_json_round_trips_and_rejects_other_versions()
    {
        var config = ModelConfig.For(ModelFamily.RvmReact);
        var json = config.ToJson();
        Assert.Contains("\"rvm-react\"", json);
        var back = ModelConfig.FromJson(json);
        Assert.Equal(config.Family, back.Family);
        Assert.Equal(config.ShbMaskDensities, back.ShbMaskDensities);
        Assert.Equal([80L, 40, 32, 16], back.DecoderChannels);
        Assert.Throws<UserInputException>(() => ModelConfig.FromJson(json.Replace("\"formatVersion\": 1", "\"formatVersion\": 2")));
        // Narrower decoders round trip; a configuration written before the widths were one reads RVM's; widths no
        // decoder can have are refused in one line.
        var narrow = ModelConfig.FromJson((ModelConfig.For(ModelFamily.Bivm) with { DecoderChannels = [80, 40, 16, 8] }).ToJson());
        Assert.Equal([80L, 40, 16, 8], narrow.DecoderChannels);
        var edited = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        Assert.True(edited.Remove("decoderChannels"));
        Assert.Equal([80L, 40, 32, 16], ModelConfig.FromJson(edited.ToJsonString()).DecoderChannels);
        edited["decoderChannels"] = new System.Text.Json.Nodes.JsonArray(80, 40, 31, 16);
        var odd = Assert.Throws<UserInputException>(() => ModelConfig.FromJson(edited.ToJsonString()));
        Assert.Contains("decoderChannels", odd.Message);
    }

    [Fact]
    public void Loading_a_checkpoint_without_its_configuration_fails_with_the_path()
    {
        var path = Path.Combine(Path.GetTempPath(), $"bivm-missing-{Guid.NewGuid():N}.bin");
        var e = Assert.Throws<UserInputException>(() => ModelCheckpoint.Load(path));
        Assert.Contains(".json", e.Message);
    }
}
