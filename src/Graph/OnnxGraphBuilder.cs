using Onnx;

namespace BiVM.Graph;

/// <summary>
/// Builds an ONNX model: typed inputs/outputs (numeric or symbolic dims), initializers, nodes with attributes,
/// opset imports (the default domain and custom ones such as ai.bivm), metadata; then <see cref="Build"/> or
/// <see cref="Save"/>. Names are checked as they are added: every node input must already exist (graph input,
/// initializer or an earlier node's output) and every name is produced once, so the graph is topologically sorted
/// and well-formed by construction. <see cref="Subgraph"/> writes nodes into the body of a control-flow node
/// (an <c>If</c> branch) under the same checks.
/// </summary>
public sealed class OnnxGraphBuilder
{
    /// <summary>IR version 8 (ONNX 1.10+), understood by every ONNX Runtime of the last years.</summary>
    public const long DefaultIrVersion = 8;

    private readonly GraphProto _graph;
    private readonly Dictionary<string, long> _opsets = new() { [""] = 17 };
    private readonly List<(string Key, string Value)> _metadata = [];
    private readonly HashSet<string> _names = [];

    /// <summary>
    /// The graph nodes are written to and the names they can read: the main graph, and one entry per open
    /// <see cref="Subgraph"/>. A sub-graph reads outer names (ONNX's outer-scope rule); its own names end with it.
    /// </summary>
    private readonly Stack<(GraphProto Graph, HashSet<string> Visible)> _scopes = new();

    private int _autoNode;

    public OnnxGraphBuilder(string graphName, long defaultOpset = 17)
    {
        _graph = new GraphProto { Name = graphName };
        _opsets[""] = defaultOpset;
        _scopes.Push((_graph, []));
    }

    public string ProducerName { get; init; } = "BiVM.Onnx";

    /// <summary>Imports <paramref name="domain"/> at <paramref name="version"/> ("" is the standard ONNX domain).</summary>
    public OnnxGraphBuilder Opset(string domain, long version)
    {
        _opsets[domain] = version;
        return this;
    }

    public OnnxGraphBuilder Input(string name, TensorProto.Types.DataType type, params Dim[] shape)
    {
        Define(name, _scopes.Last().Visible);
        _graph.Input.Add(ValueInfo(name, type, shape));
        return this;
    }

    /// <summary>Declares a graph output; its shape is always written (ML.NET needs one on every output).</summary>
    public OnnxGraphBuilder Output(string name, TensorProto.Types.DataType type, params Dim[] shape)
    {
        if (!IsVisible(name)) throw new ArgumentException($"output '{name}' is not produced by any node, input or initializer");
        _graph.Output.Add(ValueInfo(name, type, shape));
        return this;
    }

    /// <summary>
    /// Adds a constant tensor (see <see cref="Tensors"/>); returns its name for use as a node input. Constants always
    /// go to the main graph, also while a sub-graph is open: every sub-graph can read them.
    /// </summary>
    public string Initializer(TensorProto tensor)
    {
        Define(tensor.Name, _scopes.Last().Visible);
        _graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    /// <summary>
    /// Adds a node. An empty string in <paramref name="inputs"/> is an omitted optional input (ONNX convention).
    /// </summary>
    public NodeBuilder Node(string opType, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs, string? name = null, string domain = "")
    {
        foreach (var input in inputs)
            if (input.Length > 0 && !IsVisible(input))
                throw new ArgumentException($"node {opType}: input '{input}' is not defined yet{(_names.Contains(input) ? " in this scope (it belongs to a sub-graph)" : "")}");
        if (!_opsets.ContainsKey(domain)) throw new ArgumentException($"node {opType}: domain '{domain}' has no opset import; call Opset first");
        foreach (var output in outputs) Define(output);
        var node = new NodeProto { OpType = opType, Domain = domain, Name = name ?? $"{opType}_{_autoNode++}" };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        _scopes.Peek().Graph.Node.Add(node);
        return new NodeBuilder(node);
    }

    /// <summary>
    /// A sub-graph for a control-flow attribute (e.g. <c>If</c>'s then_branch): the nodes that
    /// <paramref name="write"/> adds go into it, and the names it returns are its outputs (tensors of
    /// <paramref name="outputType"/>, shapes left to inference, as the branches of one If may differ in shape).
    /// Names stay unique across the whole model, so a sub-graph never shadows an outer name, and its values cannot
    /// be read once it is closed.
    /// </summary>
    public GraphProto Subgraph(string name, Func<IReadOnlyList<string>> write, TensorProto.Types.DataType outputType = TensorProto.Types.DataType.Float)
    {
        var graph = new GraphProto { Name = name };
        _scopes.Push((graph, []));
        try
        {
            foreach (var output in write())
            {
                if (!IsVisible(output)) throw new ArgumentException($"sub-graph {name}: output '{output}' is not produced");
                graph.Output.Add(new ValueInfoProto { Name = output, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)outputType } } });
            }
        }
        finally
        {
            _scopes.Pop();
        }
        return graph;
    }

    public OnnxGraphBuilder Metadata(string key, string value)
    {
        _metadata.Add((key, value));
        return this;
    }

    public ModelProto Build()
    {
        var model = new ModelProto { IrVersion = DefaultIrVersion, ProducerName = ProducerName, Graph = _graph.Clone() };
        foreach (var (domain, version) in _opsets)
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        foreach (var (key, value) in _metadata)
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return model;
    }

    public byte[] ToBytes() => Google.Protobuf.MessageExtensions.ToByteArray(Build());

    public void Save(string path) => File.WriteAllBytes(path, ToBytes());

    private bool IsVisible(string name) => _scopes.Any(scope => scope.Visible.Contains(name));

    private void Define(string name, HashSet<string>? scope = null)
    {
        if (string.IsNullOrEmpty(name)) throw new ArgumentException("names must not be empty");
        if (!_names.Add(name)) throw new ArgumentException($"name '{name}' is already defined in this graph");
        (scope ?? _scopes.Peek().Visible).Add(name);
    }

    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, Dim[] shape)
    {
        var tensor = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = new TensorShapeProto() };
        foreach (var d in shape)
            tensor.Shape.Dim.Add(d.IsSymbolic ? new TensorShapeProto.Types.Dimension { DimParam = d.Param } : new TensorShapeProto.Types.Dimension { DimValue = d.Value });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensor } };
    }
}
