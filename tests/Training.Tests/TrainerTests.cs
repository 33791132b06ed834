using BiVM.Contracts;
using BiVM.Model;
using BiVM.Model.Networks;
using BiVM.Tests.Shared;
using static TorchSharp.torch;

namespace BiVM.Training.Tests;

public class TrainerTests
{
    private static TrainingConfig Tiny(ModelFamily family, int steps, int checkpointEvery) => new()
    {
        Family = family,
        Seed = 5,
        DataSeed = 77,
        CheckpointEvery = checkpointEvery,
        Threads = 1,
        Stages =
        [
            new StageConfig { Name = "a", Steps = steps / 2, Width = 64, Height = 64, Frames = 2, BatchSize = 1 },
            new StageConfig { Name = "b", Steps = steps - steps / 2, Width = 64, Height = 64, Frames = 3, BatchSize = 1, LearningRates = new(5e-5, 1e-4, 1e-4, 0), FinalRateScale = 0.25 },
        ],
    };

    [Fact]
    public void Resume_after_cancellation_continues_bit_identically()
    {
        string dir = Directory.CreateTempSubdirectory("bivm-train-").FullName;
        try
        {
            var config = Tiny(ModelFamily.Rvm, steps: 4, checkpointEvery: 100);

            // Straight through.
            using (var straight = new Trainer(config, Path.Combine(dir, "straight")))
                straight.Run(resume: false);

            // Interrupted after step 3 (inside the second stage, so the Adam moments must be restored), then resumed.
            using var cts = new CancellationTokenSource();
            using (var first = new Trainer(config, Path.Combine(dir, "resumed")))
                Assert.Throws<OperationCanceledException>(() => first.Run(resume: false, cts.Token, r => { if (r.Step == 3) cts.Cancel(); }));
            using (var second = new Trainer(config, Path.Combine(dir, "resumed")))
            {
                var ex = Assert.Throws<UserInputException>(() => new Trainer(config, Path.Combine(dir, "resumed")).Run(resume: false));
                Assert.Contains("--resume", ex.Message);
                second.Run(resume: true);
            }

            using var a = ModelCheckpoint.Load(Path.Combine(dir, "straight", "final", "model.bin"));
            using var b = ModelCheckpoint.Load(Path.Combine(dir, "resumed", "final", "model.bin"));
            var pb = b.state_dict();
            foreach (var (name, value) in a.state_dict())
                Assert.True(value.equal(pb[name]).all().item<bool>(), $"{name} differs after resume");

            var logA = File.ReadAllLines(Path.Combine(dir, "straight", "losses.csv"));
            var logB = File.ReadAllLines(Path.Combine(dir, "resumed", "losses.csv"));
            Assert.Equal(5, logA.Length);   // header + 4 steps
            Assert.Equal(logA.Select(DropTime), logB.Select(DropTime));
            // Stage b decays linearly to 0.25 of its rates over its 2 steps; the resumed step 4 used 0.25 too.
            int lrColumn = Array.IndexOf(TrainingLog.Columns, "lr_scale");
            Assert.Equal(new[] { "1", "1", "1", "0.25" }, logB.Skip(1).Select(line => line.Split(',')[lrColumn]));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// A run packed after step 3 (inside the second stage) and continued from the pack in a new folder, as on another
    /// machine: the weights it starts from are the checkpoint's rounded to float16, Adam restarts (and says so), the
    /// log continues with step 4, and the pack is a fraction of the checkpoint's size.
    /// </summary>
    [Fact]
    public void A_packed_run_continues_elsewhere_from_float16_weights_with_adam_restarted()
    {
        string dir = Directory.CreateTempSubdirectory("bivm-train-pack-").FullName;
        try
        {
            var config = Tiny(ModelFamily.Rvm, steps: 4, checkpointEvery: 100);
            using var cts = new CancellationTokenSource();
            using (var first = new Trainer(config, Path.Combine(dir, "here")))
                Assert.Throws<OperationCanceledException>(() => first.Run(resume: false, cts.Token, r => { if (r.Step == 3) cts.Cancel(); }));
            var here = new RunFolder(Path.Combine(dir, "here"));
            string pack = Path.Combine(dir, "run.zip");
            RunPack.Write(here, pack);
            long checkpoint = new DirectoryInfo(here.CheckpointDirectory).EnumerateFiles().Sum(f => f.Length);
            Assert.True(new FileInfo(pack).Length < checkpoint / 4, $"pack {new FileInfo(pack).Length} bytes, checkpoint {checkpoint}");

            // The weights a continued run starts from: the checkpoint's, rounded to float16 and back.
            var there = new RunFolder(Path.Combine(dir, "there"));
            Assert.Equal(3, RunPack.Unpack(pack, there, ModelConfig.For(ModelFamily.Rvm) with { Normalization = config.Normalization }));
            Assert.False(there.HasOptimizerState);
            using (var saved = ModelCheckpoint.Load(here.CheckpointWeights))
            using (var unpacked = ModelCheckpoint.Load(there.CheckpointWeights))
            {
                var u = unpacked.state_dict();
                foreach (var (name, value) in saved.state_dict())
                {
                    var expected = value.is_floating_point() ? value.to(ScalarType.Float16).to(ScalarType.Float32) : value;
                    Assert.True(expected.equal(u[name]).all().item<bool>(), $"{name}: not the float16 rounding of the checkpoint");
                }
            }
            Directory.Delete(there.Root, recursive: true);

            using (var elsewhere = new Trainer(config, there.Root))
                elsewhere.RunFrom(pack);
            Assert.True(File.Exists(there.FinalWeights));
            var steps = File.ReadAllLines(Path.Combine(there.Root, "losses.csv")).Skip(1).Select(line => line.Split(',')[0]);
            Assert.Equal(new[] { "1", "2", "3", "4" }, steps);
            string events = File.ReadAllText(there.EventsPath);
            Assert.Contains("continued from the run pack", events);
            Assert.Contains("Adam's moments restarted at step 3", events);

            // Into a folder that has a checkpoint, for another family, or from a file that is no pack: one line each.
            using (var again = new Trainer(config, there.Root))
                Assert.Contains("already holds a checkpoint", Assert.Throws<UserInputException>(() => again.RunFrom(pack)).Message);
            using (var other = new Trainer(config with { Family = ModelFamily.RvmReact }, Path.Combine(dir, "other")))
                Assert.Contains("holds a run of rvm (batch normalization)", Assert.Throws<UserInputException>(() => other.RunFrom(pack)).Message);
            using (var narrower = new Trainer(config with { DecoderChannels = [80, 40, 16, 8] }, Path.Combine(dir, "narrower")))
                Assert.Contains("trains rvm (batch normalization, decoder 80, 40, 16, 8)", Assert.Throws<UserInputException>(() => narrower.RunFrom(pack)).Message);
            string notPack = Path.Combine(dir, "not.zip");
            File.WriteAllBytes(notPack, new byte[100]);
            using (var broken = new Trainer(config, Path.Combine(dir, "broken")))
                Assert.Contains("not a run pack", Assert.Throws<UserInputException>(() => broken.RunFrom(notPack)).Message);
            string garbled = Path.Combine(dir, "garbled.zip");
            using (var zip = System.IO.Compression.ZipFile.Open(garbled, System.IO.Compression.ZipArchiveMode.Create))
                foreach (var entry in new[] { "model.json", "model.f16.bin", "state.json" })
                    using (var writer = new StreamWriter(zip.CreateEntry(entry).Open())) writer.Write("{");
            using (var broken = new Trainer(config, Path.Combine(dir, "garbled")))
                Assert.Contains("does not read", Assert.Throws<UserInputException>(() => broken.RunFrom(garbled)).Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_transient_libtorch_error_is_redone_from_the_checkpoint_with_the_same_result()
    {
        string dir = Directory.CreateTempSubdirectory("bivm-train-").FullName;
        try
        {
            var config = Tiny(ModelFamily.Rvm, steps: 4, checkpointEvery: 2);
            using (var straight = new Trainer(config, Path.Combine(dir, "straight")))
                straight.Run(resume: false);

            using (var failing = new Trainer(config, Path.Combine(dir, "failing")))
            {
                bool failed = false;
                failing.BeforeStep = step =>
                {
                    if (step == 3 && !failed) { failed = true; throw new System.Runtime.InteropServices.ExternalException("injected LibTorch error"); }
                };
                failing.Run(resume: false);
                Assert.True(failed);
            }
            Assert.Contains("injected LibTorch error", File.ReadAllText(Path.Combine(dir, "failing", "events.log")));

            using var a = ModelCheckpoint.Load(Path.Combine(dir, "straight", "final", "model.bin"));
            using var b = ModelCheckpoint.Load(Path.Combine(dir, "failing", "final", "model.bin"));
            var pb = b.state_dict();
            foreach (var (name, value) in a.state_dict())
                Assert.True(value.equal(pb[name]).all().item<bool>(), $"{name} differs after the recovery");
            Assert.Equal(File.ReadAllLines(Path.Combine(dir, "straight", "losses.csv")).Select(DropTime),
                File.ReadAllLines(Path.Combine(dir, "failing", "losses.csv")).Select(DropTime));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string DropTime(string csvRow) => csvRow[..csvRow.LastIndexOf(',')];

    [Theory]
    [InlineData(ModelFamily.Bivm, true, ModelFamily.Bivm)]
    [InlineData(ModelFamily.Rvm, false, ModelFamily.RvmReact)]
    public void A_1bit_network_starts_from_its_32bit_counterparts_weights(ModelFamily fromFamily, bool fromFullPrecision, ModelFamily toFamily)
    {
        string dir = Directory.CreateTempSubdirectory("bivm-init-").FullName;
        try
        {
            manual_seed(21);
            string path = Path.Combine(dir, "model.bin");
            using (var source = ModelFactory.Create(ModelConfig.For(fromFamily, fromFullPrecision))) ModelCheckpoint.Save(source, path);
            using var teacher = ModelCheckpoint.Load(path);
            using var network = ModelFactory.Create(toFamily);
            var (copied, kept) = Trainer.CopyMatching(path, network);

            var from = teacher.state_dict();
            var binary = network.named_modules().Where(m => m.module is BiVM.Model.Binarization.BinaryConv2d).Select(m => m.name + ".weight").ToList();
            Assert.NotEmpty(binary);
            // Every 1-bit conv's latent weight is the 32-bit conv's weight; τ (absent in 32 bits) keeps its initial 0.
            foreach (var (name, tensor) in network.state_dict())
            {
                if (binary.Contains(name)) Assert.True(tensor.equal(from[name]).all().item<bool>(), $"{name} was not copied");
                if (name.EndsWith(".tau")) Assert.Contains(name, kept);
            }
            Assert.True(copied > kept.Count, $"only {copied} tensors copied, {kept.Count} kept");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void With_calibrate_thresholds_a_fresh_1bit_run_starts_from_data_thresholds_and_says_so()
    {
        string dir = Directory.CreateTempSubdirectory("bivm-calibrate-").FullName;
        try
        {
            var config = Tiny(ModelFamily.Bivm, steps: 1, checkpointEvery: 1) with
            {
                CalibrateThresholds = true,
                Normalization = BiVM.Model.Binarization.BatchNormMode.Frame,
                Stages = [new StageConfig { Name = "a", Steps = 1, Width = 64, Height = 64, Frames = 2, LearningRates = new(0, 0, 1e-9, 0) }],
            };
            using var trainer = new Trainer(config, dir);
            trainer.Run(resume: false);
            Assert.Contains("set to the median of their inputs", File.ReadAllText(Path.Combine(dir, "events.log")));
            // The backbone's rate is 0, so its τ are exactly what the calibration set: not the initial 0.
            var taus = trainer.Network.named_parameters().Where(p => p.name.StartsWith("backbone.") && p.name.EndsWith(".tau")).ToList();
            Assert.NotEmpty(taus);
            Assert.All(taus, p => Assert.True(p.parameter.abs().sum().item<float>() > 0, $"{p.name} is still 0"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData(5, 0.0, new[] { 1.0, 0.75, 0.5, 0.25, 0.0 })]
    [InlineData(3, 0.2, new[] { 1.0, 0.6, 0.2 })]
    [InlineData(4, 1.0, new[] { 1.0, 1.0, 1.0, 1.0 })]
    [InlineData(1, 0.0, new[] { 1.0 })]
    public void A_stage_rate_decays_linearly_from_its_rates_to_the_final_scale(int steps, double finalScale, double[] expected)
    {
        var stage = new StageConfig { Steps = steps, FinalRateScale = finalScale };
        Assert.Equal(expected, Enumerable.Range(0, steps).Select(i => Math.Round(stage.RateScaleAt(i), 12)));
    }

    [Fact]
    public void Bad_configurations_are_rejected_with_the_stage_named()
    {
        var config = Tiny(ModelFamily.Rvm, 2, 1) with { Stages = [new StageConfig { Name = "tiny", Steps = 1, Width = 32, Height = 64 }] };
        var ex = Assert.Throws<UserInputException>(() => config.Validate("cfg.json"));
        Assert.Contains("stage 1 ('tiny')", ex.Message);
        Assert.Contains("32×64", ex.Message);

        var lbm = Tiny(ModelFamily.Bivm, 2, 1) with { Stages = [new StageConfig { Name = "s1", Steps = 1, Lbm = true }] };
        Assert.Contains("teacher", Assert.Throws<UserInputException>(() => lbm.Validate()).Message);

        var rising = Tiny(ModelFamily.Rvm, 2, 1) with { Stages = [new StageConfig { Name = "up", Steps = 1, FinalRateScale = 2 }] };
        Assert.Contains("finalRateScale", Assert.Throws<UserInputException>(() => rising.Validate()).Message);
    }

    [Fact]
    public void Progressive_binarization_starts_at_the_32bit_function_rises_as_the_square_and_ends_1bit()
    {
        string dir = Directory.CreateTempSubdirectory("bivm-train-progressive-").FullName;
        try
        {
            string init = Path.Combine(dir, "rvm", "model.bin");
            using (var rvm = ModelFactory.Create(ModelFamily.Rvm)) ModelCheckpoint.Save(rvm, init);
            var config = Tiny(ModelFamily.RvmReact, 4, 100) with { InitFrom = init, BinarizeSteps = 2, Normalization = BiVM.Model.Binarization.BatchNormMode.Fixed };
            Assert.Equal(new[] { 0.0, 0.25, 1.0, 1.0 }, Enumerable.Range(0, 4).Select(config.BinarizationAt));
            using (var trainer = new Trainer(config, Path.Combine(dir, "run")))
            {
                trainer.Run(resume: false);
                Assert.Equal(1, BiVM.Model.Binarization.ProgressiveBinarization.Of(trainer.Network));
            }
            var log = File.ReadAllLines(Path.Combine(dir, "run", "losses.csv"));
            int column = Array.IndexOf(TrainingLog.Columns, "binarization");
            Assert.Equal(new[] { "0", "0.25", "1", "1" }, log.Skip(1).Select(row => row.Split(',')[column]));
            var events = File.ReadAllText(Path.Combine(dir, "run", "events.log"));
            Assert.Contains("RPReLU slopes set to 0", events);
            Assert.Contains("gains of", events);

            Assert.Contains("1-bit networks only", Assert.Throws<UserInputException>(() => (config with { Family = ModelFamily.Rvm }).Validate()).Message);
            Assert.Contains("needs initFrom", Assert.Throws<UserInputException>(() => (config with { InitFrom = null }).Validate()).Message);
            Assert.Contains("ends 1-bit", Assert.Throws<UserInputException>(() => (config with { BinarizeSteps = 4 }).Validate()).Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Learning_rate_groups_follow_rvm_module_names_and_zero_freezes()
    {
        using var network = ModelFactory.Create(ModelFamily.Rvm);
        using var adam = Trainer.CreateOptimizer(network, new LearningRates(1e-4, 2e-4, 3e-4, 0));
        var trained = adam.ParamGroups.Cast<TorchSharp.Modules.Adam.ParamGroup>().SelectMany(g => g.Parameters).Count();
        var refiner = network.named_parameters().Count(p => p.name.StartsWith("refiner."));
        Assert.True(refiner > 0);
        Assert.Equal(network.parameters().Count() - refiner, trained);
        Assert.Equal(new[] { 1e-4, 2e-4, 3e-4 }, adam.ParamGroups.Select(g => g.LearningRate).Order().ToArray());
    }

    /// <summary>A one-step config of <paramref name="family"/> whose stage mimics a random RVM saved in <paramref name="dir"/>.</summary>
    private static TrainingConfig OneLbmStepAgainstAnRvm(string dir, ModelFamily family)
    {
        string teacher = Path.Combine(dir, "teacher", "model.bin");
        using (var rvm = ModelFactory.Create(ModelFamily.Rvm)) ModelCheckpoint.Save(rvm, teacher);
        return Tiny(family, 2, 100) with
        {
            Teacher = teacher,
            Stages = [new StageConfig { Name = "s1", Steps = 1, Width = 64, Height = 64, Frames = 2, BatchSize = 1, Lbm = true }],
        };
    }

    /// <summary>Trains <paramref name="config"/> in <paramref name="run"/>; its first losses.csv row, value by column.</summary>
    private static Func<string, double> TrainAndReadFirstRow(TrainingConfig config, string run)
    {
        using (var trainer = new Trainer(config, run))
            trainer.Run(resume: false);
        var row = File.ReadAllLines(Path.Combine(run, "losses.csv"))[1].Split(',');
        return column => double.Parse(row[Array.IndexOf(TrainingLog.Columns, column)], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public void Rvm_react_mimics_an_rvm_teacher_everywhere_and_rvm_itself_is_refused()
    {
        using var dir = new TempFolder("bivm-train-lbm-");
        var config = OneLbmStepAgainstAnRvm(dir.Path, ModelFamily.RvmReact) with { LambdaLbm = 0.5 };
        var logged = TrainAndReadFirstRow(config, dir.File("run"));
        // Two unrelated networks: their normalized feature energies differ at every tap (no SHB mask to hide them).
        Assert.True(logged("lbm") > 0.1, $"lbm {logged("lbm")}");

        var rvmConfig = config with { Family = ModelFamily.Rvm };
        Assert.Contains("not to rvm", Assert.Throws<UserInputException>(() => rvmConfig.Validate()).Message);
    }

    [Fact]
    public void Bivm_learns_pairwise_similarities_from_a_teacher_of_another_architecture_and_logs_the_term()
    {
        using var dir = new TempFolder("bivm-train-pairwise-");
        var config = OneLbmStepAgainstAnRvm(dir.Path, ModelFamily.Bivm) with { FullPrecision = true, LambdaLbm = 0.1, LambdaPairwise = 1 };
        var logged = TrainAndReadFirstRow(config, dir.File("run"));
        // Two unrelated networks see different pairs of positions as alike; the total carries the term.
        Assert.True(logged("pairwise") > 1e-4, $"pairwise {logged("pairwise")}");
        Assert.True(logged("total") > logged("pairwise"));

        var noTeacherStage = config with { Stages = [new StageConfig { Name = "s1", Steps = 1, Width = 64, Height = 64, Frames = 2, BatchSize = 1 }] };
        Assert.Contains("lambdaPairwise needs a stage with lbm", Assert.Throws<UserInputException>(() => noTeacherStage.Validate()).Message);
        Assert.Contains("lambdaPairwise = -1", Assert.Throws<UserInputException>(() => (config with { LambdaPairwise = -1 }).Validate()).Message);
    }
}
