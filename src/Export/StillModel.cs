using BiVM.Contracts;
using BiVM.Graph;
using Onnx;

namespace BiVM.Export;

/// <summary>
/// The still variant of a matting model (<c>bivm export --still</c>): one image in, <c>fgr</c> and <c>pha</c> out,
/// nothing carried. Made from the streaming graph by fixing its recurrent inputs to the first-frame state (RVM's
/// [1,1,1,1] zeros, as <c>VideoMatter</c> feeds a stream's first frame) and computing the downsample ratio in the
/// graph as <c>VideoMatter</c>'s default does, min(512 / max(H, W), 1). Its only input is <c>src</c>, so ML.NET's
/// <c>ApplyOnnxModel</c> (which feeds every graph input from a column) runs it on a column of pixels, and each
/// image gets exactly what the streaming model gives the first frame of a video.
/// </summary>
public static class StillModel
{
    private const string RatioPrefix = "still.ratio";

    /// <summary>A still copy of <paramref name="streaming"/>, a model of the matting contract.</summary>
    /// <exception cref="ArgumentException">The model lacks an input or output of the contract.</exception>
    public static ModelProto From(ModelProto streaming)
    {
        var model = streaming.Clone();
        var graph = model.Graph;
        foreach (var name in MattingContract.Inputs.Concat(MattingContract.Outputs))
            if (!graph.Input.Any(i => i.Name == name) && !graph.Output.Any(o => o.Name == name))
                throw new ArgumentException($"not a matting model: it has no '{name}'", nameof(streaming));

        RemoveInputs(graph, MattingContract.StateInputs.Append(MattingContract.DownsampleRatio));
        foreach (var state in MattingContract.StateInputs)
            graph.Initializer.Add(Tensors.Float(state, [0f], 1, 1, 1, 1));
        AddDefaultRatio(graph);

        // The state outputs go, and the nodes that only copied the state out with them (the exporter's Identity nodes;
        // in a fused file the ConvGRU writes its state output itself and another node reads it, so it stays).
        var dropped = MattingContract.StateOutputs.ToHashSet();
        foreach (var output in graph.Output.Where(o => dropped.Contains(o.Name)).ToList()) graph.Output.Remove(output);
        var read = graph.Node.SelectMany(n => n.Input.Concat(n.Attribute.SelectMany(a => a.G is { } g ? [g] : a.Graphs.ToList()).SelectMany(g => g.Node).SelectMany(b => b.Input))).ToHashSet();
        foreach (var node in graph.Node.Where(n => n.Output.All(dropped.Contains) && !n.Output.Any(read.Contains)).ToList()) graph.Node.Remove(node);

        model.MetadataProps.Add(new StringStringEntryProto { Key = "still", Value = "true: recurrent state fixed to the first frame's, downsample ratio min(512 / max(H, W), 1); fgr and pha only" });
        model.DocString += " Still variant: src → fgr, pha (no recurrent state).";
        return model;
    }

    private static void RemoveInputs(GraphProto graph, IEnumerable<string> names)
    {
        var set = names.ToHashSet();
        foreach (var input in graph.Input.Where(i => set.Contains(i.Name)).ToList()) graph.Input.Remove(input);
    }

    /// <summary>downsample_ratio = min(512 / max(H, W), 1) as a [1] tensor: the float arithmetic of MattingContract.DefaultDownsampleRatio.</summary>
    private static void AddDefaultRatio(GraphProto graph)
    {
        string P(string s) => $"{RatioPrefix}.{s}";
        graph.Initializer.Add(Tensors.Int64(P("hw_start"), [2L], 1));
        graph.Initializer.Add(Tensors.Int64(P("hw_end"), [4L], 1));
        graph.Initializer.Add(Tensors.Float(P("long_side"), [512f], 1));
        graph.Initializer.Add(Tensors.Float(P("one"), [1f], 1));
        var nodes = new[]
        {
            Node("Shape", [MattingContract.Source], P("shape")),
            Node("Slice", [P("shape"), P("hw_start"), P("hw_end")], P("hw")),
            Node("ReduceMax", [P("hw")], P("max"), new AttributeProto { Name = "axes", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 0L } },
                new AttributeProto { Name = "keepdims", Type = AttributeProto.Types.AttributeType.Int, I = 1 }),
            Node("Cast", [P("max")], P("max_f"), new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (long)TensorProto.Types.DataType.Float }),
            Node("Div", [P("long_side"), P("max_f")], P("ratio")),
            Node("Min", [P("ratio"), P("one")], MattingContract.DownsampleRatio),
        };
        // Before every other node: ONNX wants nodes in topological order.
        for (int i = nodes.Length - 1; i >= 0; i--) graph.Node.Insert(0, nodes[i]);
    }

    private static NodeProto Node(string op, string[] inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = output };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        return node;
    }
}
