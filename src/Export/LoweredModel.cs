using System.Runtime.InteropServices;
using BiVM.Contracts;
using BiVM.CustomOps.BitPacking;
using BiVM.Graph;
using Onnx;

namespace BiVM.Export;

/// <summary>
/// A model file with its ai.bivm binary convs rewritten into standard ONNX ops: each <c>BinaryConv2d</c> /
/// <c>SparseBinaryConv2d</c> node becomes exactly what <see cref="BinaryConvNodes.AddLowered"/> writes for the
/// exporter (Sub, GreaterOrEqual, Where, a float Conv on ±1 weights, Mul, Add, and the mask's Resize/Where), so
/// the result computes the same function on ONNX Runtime's stock kernels. The shipped models have no weights
/// checkpoint in the repository, so this lowers the ONNX file itself (<c>bivm bench --models</c> times it as
/// "bivm-lowered"); the ±1 weights come from <see cref="WeightPacker.Unpack"/>, the one inverse of the packing.
/// </summary>
public static class LoweredModel
{
    /// <summary>A copy of <paramref name="model"/> with no ai.bivm node left (in the main graph or any sub-graph).</summary>
    /// <exception cref="ArgumentException">A custom node's constant inputs are missing or malformed.</exception>
    public static ModelProto From(ModelProto model)
    {
        // Fused glue (ShortcutRPReLU, packed hand-offs) goes back to its standard ops first: only then is every
        // ai.bivm node a binary conv.
        var lowered = GlueFusion.Unfuse(model);
        var main = lowered.Graph;
        var initializers = main.Initializer.ToDictionary(t => t.Name);
        int count = LowerGraph(main, main, initializers);

        // The packed W, alpha and tau the custom nodes read are dead now: drop every main-graph initializer no node reads.
        var read = new HashSet<string>(AllNodes(main).SelectMany(n => n.Input));
        foreach (var output in main.Output) read.Add(output.Name);
        foreach (var dead in main.Initializer.Where(t => !read.Contains(t.Name)).ToList()) main.Initializer.Remove(dead);
        foreach (var opset in lowered.OpsetImport.Where(o => o.Domain == BinaryConvSchema.Domain).ToList()) lowered.OpsetImport.Remove(opset);
        lowered.MetadataProps.Add(new StringStringEntryProto { Key = "lowered", Value = $"{count} ai.bivm binary convs rewritten into standard ops (Conv on ±1 weights)" });
        return lowered;
    }

    /// <summary>Lowers the custom nodes of <paramref name="graph"/> and of its sub-graphs; returns how many.</summary>
    private static int LowerGraph(GraphProto graph, GraphProto main, Dictionary<string, TensorProto> initializers)
    {
        int count = 0;
        for (int i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            foreach (var attribute in node.Attribute)
            {
                if (attribute.G is { } g) count += LowerGraph(g, main, initializers);
                foreach (var sub in attribute.Graphs) count += LowerGraph(sub, main, initializers);
            }
            if (node.Domain != BinaryConvSchema.Domain) continue;
            var replacement = Lower(node, main, initializers);
            graph.Node.RemoveAt(i);
            for (int j = 0; j < replacement.Count; j++) graph.Node.Insert(i + j, replacement[j]);
            i += replacement.Count - 1;
            count++;
        }
        return count;
    }

    /// <summary>The standard-op nodes for one custom node; their constants are added to the main graph.</summary>
    private static List<NodeProto> Lower(NodeProto node, GraphProto main, Dictionary<string, TensorProto> initializers)
    {
        bool sparse = node.OpType == BinaryConvSchema.SparseBinaryConv2d;
        if (!sparse && node.OpType != BinaryConvSchema.BinaryConv2d)
            throw new ArgumentException($"node '{node.Name}': unknown {BinaryConvSchema.Domain} op {node.OpType}");
        string where = $"{node.OpType} node '{node.Name}'";
        TensorProto Constant(int index, string what) =>
            index < node.Input.Count && node.Input[index].Length > 0 && initializers.TryGetValue(node.Input[index], out var t)
                ? t : throw new ArgumentException($"{where}: input {what} is not a constant initializer");

        var w = Constant(BinaryConvSchema.InputW, "W");
        if (w.Dims.Count != 4) throw new ArgumentException($"{where}: W must be [Cout, kH, kW, words]");
        int cout = (int)w.Dims[0], kh = (int)w.Dims[1], kw = (int)w.Dims[2];
        float[] alpha = Floats(Constant(BinaryConvSchema.InputAlpha, "alpha"));
        float[] tau = Floats(Constant(BinaryConvSchema.InputTau, "tau"));
        int cin = tau.Length;
        float[]? bias = node.Input.Count > BinaryConvSchema.InputBias && node.Input[BinaryConvSchema.InputBias].Length > 0
            ? Floats(Constant(BinaryConvSchema.InputBias, "bias")) : null;
        var attributes = new BinaryConvAttributes(
            Ints(node, BinaryConvSchema.KernelShape) ?? [kh, kw],
            Ints(node, BinaryConvSchema.Strides) ?? [1, 1],
            Ints(node, BinaryConvSchema.Pads) ?? [0, 0, 0, 0],
            Ints(node, BinaryConvSchema.Dilations) ?? [1, 1]);
        string? mask = sparse ? node.Input[BinaryConvSchema.InputMask] : null;
        int maskScale = (int)(node.Attribute.FirstOrDefault(a => a.Name == BinaryConvSchema.MaskScale)?.I ?? 1);

        // AddLowered writes into a builder; a scratch one sees the node's inputs as graph inputs, and its nodes and
        // constants are spliced in where the custom node was.
        string name = node.Name.Length > 0 ? node.Name : node.Output[0];
        var scratch = new OnnxGraphBuilder("lowering");
        scratch.Input(node.Input[BinaryConvSchema.InputX], TensorProto.Types.DataType.Float);
        if (mask is not null) scratch.Input(mask, TensorProto.Types.DataType.Uint8);
        BinaryConvNodes.AddLowered(scratch, name, node.Input[BinaryConvSchema.InputX], node.Output[0],
            WeightPacker.Unpack(UInt64s(w), cout, cin, kh, kw), [cout, cin, kh, kw], alpha, tau, bias, attributes, mask, maskScale);
        var built = scratch.Build().Graph;
        foreach (var constant in built.Initializer)
        {
            // The custom node's own constants use the same "{name}." prefix; they are dead once it is gone.
            if (initializers.Remove(constant.Name, out var old)) main.Initializer.Remove(old);
            initializers[constant.Name] = constant;
            main.Initializer.Add(constant);
        }
        return [.. built.Node];
    }

    private static long[]? Ints(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name)?.Ints.ToArray();

    private static float[] Floats(TensorProto t) => t.DataType != (int)TensorProto.Types.DataType.Float
        ? throw new ArgumentException($"initializer '{t.Name}' must be float32")
        : t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray() : [.. t.FloatData];

    private static ulong[] UInt64s(TensorProto t) => t.DataType != (int)TensorProto.Types.DataType.Uint64
        ? throw new ArgumentException($"initializer '{t.Name}' must be uint64")
        : t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, ulong>(t.RawData.Span).ToArray() : [.. t.Uint64Data];

    private static IEnumerable<NodeProto> AllNodes(GraphProto graph) =>
        graph.Node.SelectMany(n => n.Attribute.SelectMany(a => (a.G is null ? a.Graphs : a.Graphs.Append(a.G)).SelectMany(AllNodes)).Prepend(n));
}
