using Google.Protobuf;
using Onnx;

namespace BiVM.Graph;

/// <summary>Adds attributes to one node just added by <see cref="OnnxGraphBuilder.Node"/>; chainable.</summary>
public sealed class NodeBuilder
{
    internal NodeBuilder(NodeProto node) => Proto = node;

    public NodeProto Proto { get; }

    public NodeBuilder Attribute(string name, long value) => Add(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value });

    public NodeBuilder Attribute(string name, float value) => Add(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value });

    public NodeBuilder Attribute(string name, string value) =>
        Add(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) });

    public NodeBuilder Attribute(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return Add(a);
    }

    public NodeBuilder Attribute(string name, params float[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Floats };
        a.Floats.AddRange(values);
        return Add(a);
    }

    /// <summary>A tensor-valued attribute (e.g. Constant's <c>value</c>).</summary>
    public NodeBuilder Attribute(string name, TensorProto value) =>
        Add(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Tensor, T = value });

    /// <summary>A graph-valued attribute (e.g. If's then_branch, from <see cref="OnnxGraphBuilder.Subgraph"/>).</summary>
    public NodeBuilder Attribute(string name, GraphProto value) =>
        Add(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Graph, G = value });

    private NodeBuilder Add(AttributeProto attribute)
    {
        if (Proto.Attribute.Any(a => a.Name == attribute.Name))
            throw new ArgumentException($"node '{Proto.Name}' already has attribute '{attribute.Name}'");
        Proto.Attribute.Add(attribute);
        return this;
    }
}
