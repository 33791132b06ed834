using BiVM.Contracts;
using Google.Protobuf;
using Onnx;

namespace BiVM.Graph;

/// <summary>One part of a matting model cut by <see cref="PipelineStages.Split"/>: a model of its own.</summary>
/// <param name="Name">What the stage computes (<see cref="PipelineStages.Names"/>).</param>
/// <param name="Model">The stage's ONNX model: its nodes, the initializers they read, the main model's opsets.</param>
/// <param name="Inputs">The tensors it reads that it does not compute: the main model's inputs and earlier stages' outputs.</param>
/// <param name="Outputs">The tensors it computes that later stages or the main model's outputs need.</param>
public sealed record PipelineStage(string Name, byte[] Model, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs);

/// <summary>
/// A matting model (the shipped bivm, rvm-react and rvm) cut into four models that run one after another and
/// together compute what the whole does, so that frame t + 1's encoder can run while frame t's decoder and refiner
/// do (docs/kernels.md, "frames in a pipeline"). Only the recurrent decoder carries state from frame to frame; the
/// encoder, the last decoder block and the refiner depend on their own frame alone.
/// </summary>
/// <remarks>
/// The cut follows the exporter's node names (<c>MattingExporter</c>): <c>downsample…</c>, <c>backbone…</c> and
/// <c>aspp…</c> are the encoder; <c>decoder…</c> but <c>decoder.decode0…</c>, and the nodes that write the state
/// outputs, the recurrent decoder; <c>decoder.decode0…</c> and <c>project_mat…</c> the last decoder block; the rest
/// (the refiner's If, the output clamps) the refiner. A model whose data would flow backwards across that cut, or
/// whose state is read outside the recurrent decoder, is refused with the tensor that does.
/// </remarks>
public static class PipelineStages
{
    /// <summary>The stages in order.</summary>
    public static readonly IReadOnlyList<string> Names = ["encoder", "recurrent decoder", "decode0", "refiner"];

    /// <summary>Index in <see cref="Names"/> of the stage that reads and writes the recurrent state.</summary>
    public const int Recurrent = 1;

    /// <summary>
    /// The tensors that cross the cut of <paramref name="model"/>, in graph order: written by one stage and read by a
    /// later one (the main model's inputs and outputs are not among them). Their types are the runtime's to say:
    /// <see cref="WithOutputs"/>, then the loaded model's output metadata.
    /// </summary>
    /// <exception cref="InvalidOperationException">The model's nodes do not follow the exporter's cut (with the tensor that crosses it backwards).</exception>
    public static IReadOnlyList<string> CutTensors(byte[] model)
    {
        var graph = Parse(model).Graph;
        var stageOf = Check(graph);
        var producer = Producers(graph, stageOf);
        return graph.Node.SelectMany(n => Reads(n).Where(t => producer.TryGetValue(t, out int from) && from < stageOf[n]))
            .Distinct().Where(t => !graph.Output.Any(o => o.Name == t)).ToList();
    }

    /// <summary><paramref name="model"/> with <paramref name="tensors"/> added to its outputs, untyped (ONNX Runtime infers their types).</summary>
    public static byte[] WithOutputs(byte[] model, IEnumerable<string> tensors)
    {
        var proto = Parse(model);
        proto.MetadataProps.Clear(); // its checksum no longer holds
        foreach (var tensor in tensors) proto.Graph.Output.Add(new ValueInfoProto { Name = tensor });
        return proto.ToByteArray();
    }

    /// <summary>Cuts <paramref name="model"/> (ONNX bytes) into <see cref="Names"/>' four stages.</summary>
    /// <param name="model">The matting model.</param>
    /// <param name="cutTypes">For each of <see cref="CutTensors"/>: its ONNX element type and rank.</param>
    /// <exception cref="InvalidOperationException">The model's nodes do not follow the exporter's cut (with the tensor that crosses it backwards), or a cut tensor has no type.</exception>
    public static IReadOnlyList<PipelineStage> Split(byte[] model, IReadOnlyDictionary<string, (int ElementType, int Rank)> cutTypes)
    {
        ArgumentNullException.ThrowIfNull(cutTypes);
        var proto = Parse(model);
        var graph = proto.Graph;
        var stageOf = Check(graph);
        var initializers = graph.Initializer.ToDictionary(i => i.Name);
        var graphInputs = graph.Input.ToDictionary(i => i.Name);
        var graphOutputs = graph.Output.ToDictionary(o => o.Name);
        var reads = graph.Node.ToDictionary(n => n, n => Reads(n).Distinct().ToList());
        ValueInfoProto Cut(string tensor) => cutTypes.TryGetValue(tensor, out var type) ? Typed(tensor, type.ElementType, type.Rank)
            : throw new InvalidOperationException($"the model cannot be cut into pipeline stages: no type for the cut tensor '{tensor}'");

        var stages = new List<PipelineStage>();
        for (int s = 0; s < Names.Count; s++)
        {
            var nodes = graph.Node.Where(n => stageOf[n] == s).ToList();
            var produced = nodes.SelectMany(n => n.Output).Where(o => o.Length > 0).ToHashSet();
            var read = nodes.SelectMany(n => reads[n]).Distinct().ToList();
            var inputs = read.Where(t => !produced.Contains(t) && !initializers.ContainsKey(t)).ToList();
            var readLater = graph.Node.Where(n => stageOf[n] > s).SelectMany(n => reads[n]).ToHashSet();
            var outputs = nodes.SelectMany(n => n.Output).Where(o => o.Length > 0 && (graphOutputs.ContainsKey(o) || readLater.Contains(o))).Distinct().ToList();

            var part = new ModelProto { IrVersion = proto.IrVersion, ProducerName = proto.ProducerName, ProducerVersion = proto.ProducerVersion, Graph = new GraphProto { Name = $"{graph.Name}.{Names[s].Replace(' ', '_')}" } };
            part.OpsetImport.AddRange(proto.OpsetImport);
            part.Graph.Node.AddRange(nodes);
            part.Graph.Initializer.AddRange(read.Where(initializers.ContainsKey).Select(t => initializers[t]));
            // A main output an earlier stage writes may be read here too (a ConvGRU's new state, when no Identity copies
            // it into the output): declared as the main model declares it.
            part.Graph.Input.AddRange(inputs.Select(t => graphInputs.TryGetValue(t, out var info) ? info : graphOutputs.TryGetValue(t, out var output) ? output : Cut(t)));
            part.Graph.Output.AddRange(outputs.Select(t => graphOutputs.TryGetValue(t, out var info) ? info : Cut(t)));
            stages.Add(new PipelineStage(Names[s], part.ToByteArray(), inputs, outputs));
        }
        return stages;
    }

    /// <summary>The stage of a node of the main graph, by the exporter's names (see the remarks).</summary>
    private static int StageOf(NodeProto node)
    {
        string name = node.Name;
        if (name.StartsWith("downsample", StringComparison.Ordinal) || name.StartsWith("backbone", StringComparison.Ordinal) || name.StartsWith("aspp", StringComparison.Ordinal))
            return 0;
        if (name.StartsWith("decoder.decode0", StringComparison.Ordinal) || name.StartsWith("project_mat", StringComparison.Ordinal)) return 2;
        if (name.StartsWith("decoder", StringComparison.Ordinal) || node.Output.Any(MattingContract.StateOutputs.Contains)) return 1;
        return 3;
    }

    private static ModelProto Parse(byte[] model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return ModelProto.Parser.ParseFrom(model);
    }

    /// <summary>Each node's stage, after checking that data only flows forwards and the state stays in the recurrent decoder.</summary>
    private static Dictionary<NodeProto, int> Check(GraphProto graph)
    {
        var stageOf = graph.Node.ToDictionary(n => n, StageOf);
        var producer = Producers(graph, stageOf);
        foreach (var node in graph.Node)
            foreach (var tensor in Reads(node))
            {
                if (producer.TryGetValue(tensor, out int from) && from > stageOf[node])
                    throw new InvalidOperationException($"the model cannot be cut into pipeline stages: '{tensor}' of the {Names[from]} is read by '{node.Name}' of the {Names[stageOf[node]]}");
                if (MattingContract.StateInputs.Contains(tensor) && stageOf[node] != Recurrent)
                    throw new InvalidOperationException($"the model cannot be cut into pipeline stages: the state input '{tensor}' is read by '{node.Name}', outside the recurrent decoder");
            }
        foreach (var state in MattingContract.StateOutputs)
            if (!producer.TryGetValue(state, out int at) || at != Recurrent)
                throw new InvalidOperationException($"the model cannot be cut into pipeline stages: the state output '{state}' is not written by the recurrent decoder");
        for (int s = 0; s < Names.Count; s++)
            if (!stageOf.ContainsValue(s))
                throw new InvalidOperationException($"the model cannot be cut into pipeline stages: no node is named as part of the {Names[s]} (the exporter's node names: downsample…, backbone…, aspp…, decoder…, project_mat…)");
        return stageOf;
    }

    /// <summary>The stage that writes each tensor.</summary>
    private static Dictionary<string, int> Producers(GraphProto graph, Dictionary<NodeProto, int> stageOf)
    {
        var producer = new Dictionary<string, int>();
        foreach (var node in graph.Node)
            foreach (var output in node.Output.Where(o => o.Length > 0))
                producer[output] = stageOf[node];
        return producer;
    }

    /// <summary>Every tensor a node reads: its inputs, and the outer-scope names its sub-graphs (an If's branches) read.</summary>
    private static IEnumerable<string> Reads(NodeProto node)
    {
        foreach (var input in node.Input)
            if (input.Length > 0) yield return input;
        foreach (var attribute in node.Attribute)
            foreach (var sub in attribute.G is { } g ? [g] : attribute.Graphs.ToList())
            {
                var local = sub.Input.Select(i => i.Name).Concat(sub.Initializer.Select(i => i.Name)).Concat(sub.Node.SelectMany(n => n.Output)).ToHashSet();
                foreach (var inner in sub.Node.SelectMany(Reads))
                    if (!local.Contains(inner)) yield return inner;
            }
    }

    /// <summary>A cut tensor's declaration: element type and rank as ONNX Runtime inferred them, dims unnamed.</summary>
    private static ValueInfoProto Typed(string name, int elementType, int rank)
    {
        var shape = new TensorShapeProto();
        for (int k = 0; k < rank; k++) shape.Dim.Add(new TensorShapeProto.Types.Dimension());
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elementType, Shape = shape } } };
    }
}
