using BiVM.Contracts;
using BiVM.Estimators.Video;
using BiVM.Tests.Shared;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using Xunit.Abstractions;

namespace BiVM.Estimators.Tests;

/// <summary>
/// Model files carry a checksum (<see cref="ModelChecksum"/>) that loading verifies: the shipped models verify, a
/// modified file is refused with one line naming it, files without a checksum still load, and damaged files of every
/// kind (flipped bytes, truncations, garbage, and re-stamped files whose graph was edited so that ONNX Runtime has
/// to judge them) either load verified or fail with a <see cref="UserInputException"/>; a native crash would end
/// the test process.
/// </summary>
public sealed class ModelIntegrityTests(ITestOutputHelper output)
{
    private static string RepositoryFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "BiVM.Onnx.sln"))) return Path.Combine(dir.FullName, relative);
        throw new FileNotFoundException($"no BiVM.Onnx.sln above {AppContext.BaseDirectory}");
    }

    [Theory]
    [InlineData("models/bivm.onnx")]
    [InlineData("models/rvm.onnx")]
    [InlineData("models/rvm-react.onnx")]
    public void The_shipped_models_carry_a_valid_checksum(string model)
    {
        Assert.Equal(ChecksumStatus.Verified, ModelChecksum.Check(File.ReadAllBytes(RepositoryFile(model))));
    }

    [Fact]
    public void The_embedded_default_model_verifies_when_loaded()
    {
        using var session = new MattingSession(new VideoMatterOptions { IntraOpThreads = 1 });
        Assert.Equal(ChecksumStatus.Verified, session.Checksum);
    }

    [Fact]
    public void Stamping_appends_one_entry_and_keeps_every_other_byte()
    {
        var model = ContractTestModels.LumaKeyWithCounter();
        Assert.Equal(ChecksumStatus.Absent, ModelChecksum.Check(model));
        var stamped = ModelChecksum.Stamp(model);
        Assert.Equal(model, stamped.AsSpan(0, model.Length).ToArray());
        Assert.Equal(ChecksumStatus.Verified, ModelChecksum.Check(stamped));
        Assert.Equal(stamped, ModelChecksum.Stamp(stamped));   // stamping again replaces the entry with the same one
        var parsed = ModelProto.Parser.ParseFrom(stamped);     // still an ONNX model to other protobuf readers
        Assert.Equal(ModelChecksum.ComputeFor(model), parsed.MetadataProps.Single(p => p.Key == ModelChecksum.Key).Value);
    }

    [Fact]
    public void A_file_without_a_checksum_loads_and_says_so()
    {
        using var session = new MattingSession(ContractTestModels.LumaKeyWithCounter(), "luma.onnx", 1);
        Assert.Equal(ChecksumStatus.Absent, session.Checksum);
    }

    [Fact]
    public void A_modified_weight_is_refused_with_one_line_naming_the_file_unless_verification_is_off()
    {
        var model = DefaultModel.Load();
        var proto = ModelProto.Parser.ParseFrom(model);
        var weights = proto.Graph.Initializer.First(t => t.RawData.Length >= 64);
        // 64 bytes flipped inside one initializer's raw data, found by content so the offset is a weight's.
        int offset = model.AsSpan().IndexOf(weights.RawData.Span);
        Assert.True(offset > 0);
        var modified = (byte[])model.Clone();
        for (int i = 0; i < 64; i++) modified[offset + i] ^= 0x5A;

        var e = Assert.Throws<UserInputException>(() => new MattingSession(modified, "tampered.onnx", 1));
        Assert.StartsWith("tampered.onnx: modified or damaged since it was exported", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        using var anyway = new MattingSession(modified, "tampered.onnx", 1, verifyChecksum: false);
        Assert.Equal(ChecksumStatus.Mismatch, anyway.Checksum);
    }

    /// <summary>How each mutant was damaged.</summary>
    private enum Mutation { FlipBytes, Truncate, Garbage, InitializerDim, Attribute, Domain, OpType, NodeInput, DropNode, IoDim }

    [Fact]
    public void Damaged_model_files_load_verified_or_fail_with_one_clean_line()
    {
        const int MutantsPerKind = 30;
        var model = DefaultModel.Load();
        var proto = ModelProto.Parser.ParseFrom(model);
        var random = new Random(15);
        var counts = new Dictionary<(Mutation, string), int>();
        var frame = new float[3 * 64 * 48];
        Array.Fill(frame, 0.5f);
        foreach (var kind in Enum.GetValues<Mutation>())
            for (int m = 0; m < MutantsPerKind; m++)
            {
                byte[] mutant = Mutate(kind, model, proto, random);
                string outcome;
                try
                {
                    using var session = new MattingSession(mutant, $"mutant-{kind}-{m}.onnx", 1);
                    Assert.Equal(ChecksumStatus.Verified, session.Checksum);
                    outcome = "loaded";
                    // A stamped graph that ONNX Runtime accepted: running it must fail cleanly too, or work.
                    using var stream = new VideoMatter(session);
                    try
                    {
                        stream.Process(frame, 64, 48);
                        outcome = "loaded and ran";
                    }
                    catch (Exception e) when (e is OnnxRuntimeException or UserInputException)
                    {
                        outcome = "loaded, run failed cleanly";
                    }
                }
                catch (UserInputException e)
                {
                    Assert.DoesNotContain('\n', e.Message);
                    Assert.StartsWith($"mutant-{kind}-{m}.onnx: ", e.Message);
                    outcome = e.Message.Contains("checksum") ? "refused: checksum" : e.Message.Contains("do not parse as a protobuf message") ? "refused: not protobuf" : "refused: ONNX Runtime or contract";
                }
                counts[(kind, outcome)] = counts.GetValueOrDefault((kind, outcome)) + 1;
            }
        int total = counts.Values.Sum();
        output.WriteLine($"{total} mutants of the shipped bivm.onnx:");
        foreach (var ((kind, outcome), n) in counts.OrderBy(c => c.Key.Item1).ThenBy(c => c.Key.Item2)) output.WriteLine($"  {kind,-15} {outcome,-34} {n}");
        Assert.Equal(MutantsPerKind * Enum.GetValues<Mutation>().Length, total);
        // Every byte-level mutant that changed covered content is caught by the checksum before ONNX Runtime sees it.
        Assert.True(counts.GetValueOrDefault((Mutation.FlipBytes, "refused: checksum")) >= MutantsPerKind * 9 / 10);
    }

    private static byte[] Mutate(Mutation kind, byte[] model, ModelProto proto, Random random)
    {
        switch (kind)
        {
            case Mutation.FlipBytes:
            {
                var bytes = (byte[])model.Clone();
                int n = random.Next(1, 65);
                for (int i = 0; i < n; i++) bytes[random.Next(bytes.Length)] ^= (byte)random.Next(1, 256);
                return bytes;
            }
            case Mutation.Truncate:
                return model.AsSpan(0, random.Next(0, model.Length)).ToArray();
            case Mutation.Garbage:
            {
                var bytes = new byte[random.Next(1, 4096)];
                random.NextBytes(bytes);
                return bytes;
            }
        }
        // Structural edits, stamped again, so that the checksum passes and ONNX Runtime has to judge the graph.
        var edited = proto.Clone();
        var graph = edited.Graph;
        var node = graph.Node[random.Next(graph.Node.Count)];
        switch (kind)
        {
            case Mutation.InitializerDim:
            {
                var tensor = graph.Initializer[random.Next(graph.Initializer.Count)];
                if (tensor.Dims.Count == 0) tensor.Dims.Add(2);
                else tensor.Dims[random.Next(tensor.Dims.Count)] += random.Next(2) == 0 ? 1 : -1;
                break;
            }
            case Mutation.Attribute:
            {
                var withAttributes = graph.Node.Where(n => n.Attribute.Count > 0).ToList();
                var target = withAttributes[random.Next(withAttributes.Count)];
                var attribute = target.Attribute[random.Next(target.Attribute.Count)];
                attribute.I = random.Next(-3, 100);
                if (attribute.Ints.Count > 0) attribute.Ints[random.Next(attribute.Ints.Count)] = random.Next(-3, 100);
                attribute.F = (float)(random.NextDouble() * 10 - 5);
                break;
            }
            case Mutation.Domain:
            {
                var custom = graph.Node.Where(n => n.Domain == "ai.bivm").ToList();
                var target = custom.Count > 0 ? custom[random.Next(custom.Count)] : node;
                target.Domain = random.Next(2) == 0 ? "ai.bivm.other" : "";
                break;
            }
            case Mutation.OpType:
                node.OpType = random.Next(2) == 0 ? node.OpType + "X" : graph.Node[random.Next(graph.Node.Count)].OpType;
                break;
            case Mutation.NodeInput:
                if (node.Input.Count > 0) node.Input[random.Next(node.Input.Count)] = graph.Node[random.Next(graph.Node.Count)].Output[0];
                else node.Input.Add("no_such_value");
                break;
            case Mutation.DropNode:
                graph.Node.Remove(node);
                break;
            case Mutation.IoDim:
            {
                var io = random.Next(2) == 0 ? graph.Input[random.Next(graph.Input.Count)] : graph.Output[random.Next(graph.Output.Count)];
                var dims = io.Type.TensorType.Shape.Dim;
                if (dims.Count > 0) dims[random.Next(dims.Count)] = new TensorShapeProto.Types.Dimension { DimValue = random.Next(0, 5) };
                break;
            }
        }
        return ModelChecksum.Stamp(edited.ToByteArray());
    }
}
