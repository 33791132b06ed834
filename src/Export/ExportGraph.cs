using System.Globalization;
using BiVM.CustomOps.BitPacking;
using BiVM.Graph;
using BiVM.Model.Binarization;
using Onnx;

namespace BiVM.Export;

/// <summary>
/// The exporter's view of the graph under construction: unique names derived from module paths, deduplicated
/// constants, one-line op helpers, and the single place where a folded binary conv becomes either the ai.bivm
/// node or its lowering (so the two variants differ in nothing else).
/// </summary>
internal sealed class ExportGraph
{
    private const TensorProto.Types.DataType F32 = TensorProto.Types.DataType.Float;

    private readonly Dictionary<string, int> _used = new();
    private readonly Dictionary<string, string> _constants = new();
    private readonly Dictionary<string, string> _memo = new();
    private readonly List<BinaryNodeInfo> _binaryNodes = [];

    public ExportGraph(string graphName, bool lowered)
    {
        Builder = new OnnxGraphBuilder(graphName, 17);
        Lowered = lowered;
    }

    public OnnxGraphBuilder Builder { get; }

    public bool Lowered { get; }

    /// <summary>Every binary conv written, with the name of its output.</summary>
    public IReadOnlyList<BinaryNodeInfo> BinaryNodes => _binaryNodes;

    /// <summary>A name not used before, readable: the module path plus a suffix when needed.</summary>
    public string Name(string hint)
    {
        if (!_used.TryGetValue(hint, out int n))
        {
            _used[hint] = 1;
            return hint;
        }
        _used[hint] = n + 1;
        return $"{hint}_{n}";
    }

    /// <summary>Adds one node with one output and returns the output's name.</summary>
    public string Op(string opType, string hint, IReadOnlyList<string> inputs, Action<NodeBuilder>? attributes = null) =>
        Ops(opType, hint, inputs, 1, attributes)[0];

    /// <summary>Adds one node with <paramref name="outputs"/> outputs.</summary>
    public string[] Ops(string opType, string hint, IReadOnlyList<string> inputs, int outputs, Action<NodeBuilder>? attributes = null)
    {
        string node = Name(hint);
        var names = Enumerable.Range(0, outputs).Select(i => outputs == 1 ? node : $"{node}:{i}").ToArray();
        var builder = Builder.Node(opType, inputs, names, node);
        attributes?.Invoke(builder);
        return names;
    }

    /// <summary>
    /// Reuses the result of a pure computation already emitted with the same key (e.g. the 2×2 pooling of one
    /// tensor, needed by several shortcuts); otherwise builds it.
    /// </summary>
    public string Memo(string key, Func<string> build)
    {
        if (_memo.TryGetValue(key, out var name)) return name;
        name = build();
        _memo[key] = name;
        return name;
    }

    /// <summary>
    /// An <c>If</c> branch: the nodes <paramref name="write"/> adds go into the sub-graph, whose outputs are the names
    /// it returns. Results memoised inside are forgotten when it closes: they are not visible outside it.
    /// </summary>
    public GraphProto Branch(string name, Func<IReadOnlyList<string>> write)
    {
        var outside = new Dictionary<string, string>(_memo);
        try
        {
            return Builder.Subgraph(name, write);
        }
        finally
        {
            _memo.Clear();
            foreach (var (key, value) in outside) _memo[key] = value;
        }
    }

    public string Floats(string hint, float[] data, params long[] dims) => Constant("f", hint, data, dims,
        (n, d, s) => Tensors.Float(n, d, s));

    public string Int64s(string hint, long[] data, params long[] dims) => Constant("i", hint, data, dims,
        (n, d, s) => Tensors.Int64(n, d, s));

    public string Doubles(string hint, double[] data, params long[] dims) => Constant("d", hint, data, dims, (n, d, s) =>
    {
        var t = new TensorProto { Name = n, DataType = (int)TensorProto.Types.DataType.Double };
        t.Dims.AddRange(s);
        t.DoubleData.AddRange(d);
        return t;
    });

    /// <summary>A float scalar of shape [1] (broadcasts like a Python scalar).</summary>
    public string Scalar(float value) => Floats("const", [value], 1);

    /// <summary>Float parameters that are not shared (weights): never deduplicated, named after the module.</summary>
    public string Weights(string hint, float[] data, params long[] dims) => Builder.Initializer(Tensors.Float(Name(hint), data, dims));

    /// <summary>
    /// One binary conv: the ai.bivm node, or its lowering. Weights go through <see cref="WeightPacker"/> either
    /// way (the lowering unpacks the packed tensor), so both variants come from the same bits.
    /// </summary>
    public string BinaryConv(string hint, string x, FoldedBinaryConv folded, string? mask = null, long maskScale = 1)
    {
        var sign = TensorData.Floats(folded.SignWeight);
        var shape = folded.SignWeight.shape;
        int cout = (int)shape[0], cin = (int)shape[1], kh = (int)shape[2], kw = (int)shape[3];
        ulong[] packed = WeightPacker.Pack(sign, cout, cin, kh, kw);
        var alpha = TensorData.Floats(folded.Alpha);
        var bias = TensorData.Floats(folded.Bias);
        var tau = TensorData.Floats(folded.Tau);
        var attributes = BinaryConvAttributes.Square((int)folded.Kernel, (int)folded.Stride, (int)folded.Dilation, (int)folded.Padding);
        string name = Name(hint);
        string y = name;
        if (Lowered)
            BinaryConvNodes.AddLowered(Builder, name, x, y, WeightPacker.Unpack(packed, cout, cin, kh, kw), [cout, cin, kh, kw],
                alpha, tau, bias, attributes, mask, (int)maskScale);
        else
            BinaryConvNodes.AddCustom(Builder, name, x, y, packed, WeightPacker.PackedShape(cout, cin, kh, kw),
                alpha, tau, bias, attributes, mask, (int)maskScale);
        _binaryNodes.Add(new BinaryNodeInfo(name, y, cout, mask is not null));
        return y;
    }

    private string Constant<T>(string kind, string hint, T[] data, long[] dims, Func<string, T[], long[], TensorProto> make)
        where T : IFormattable
    {
        string key = kind + "|" + string.Join(",", dims) + "|" + string.Join(",", data.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        if (_constants.TryGetValue(key, out var existing)) return existing;
        string name = Builder.Initializer(make(Name(hint), data, dims));
        _constants[key] = name;
        return name;
    }
}
