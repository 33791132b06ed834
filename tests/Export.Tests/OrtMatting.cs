using BiVM.Contracts;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace BiVM.Export.Tests;

/// <summary>Runs an exported file frame by frame with the recurrent state carried (r*o fed back as r*i).</summary>
internal sealed class OrtMatting : IDisposable
{
    private readonly InferenceSession _session;
    private Dictionary<string, (float[] Data, int[] Shape)> _state;

    public OrtMatting(byte[] model, bool registerOps = true, GraphOptimizationLevel level = GraphOptimizationLevel.ORT_DISABLE_ALL)
    {
        // One thread and no graph rewrites by default: the custom and lowered files then execute the same float
        // ops in the same order everywhere except inside the binary convs, which is what the parity tests compare.
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, GraphOptimizationLevel = level };
        if (registerOps) BiVMOps.Register(options);
        _session = new InferenceSession(model, options);
        _state = MattingContract.StateInputs.ToDictionary(n => n, _ => (new float[1], new[] { 1, 1, 1, 1 }));
    }

    public InferenceSession Session => _session;

    public FrameResult Step(float[] src, int[] srcShape, float ratio)
    {
        var inputs = new List<NamedOnnxValue> { NamedOnnxValue.CreateFromTensor(MattingContract.Source, new DenseTensor<float>(src, srcShape)) };
        foreach (var name in MattingContract.StateInputs)
            inputs.Add(NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(_state[name].Data, _state[name].Shape)));
        inputs.Add(NamedOnnxValue.CreateFromTensor(MattingContract.DownsampleRatio, new DenseTensor<float>(new[] { ratio }, [1])));
        using var results = _session.Run(inputs);
        var values = new Dictionary<string, float[]>();
        var shapes = new Dictionary<string, int[]>();
        foreach (var r in results)
        {
            var t = r.AsTensor<float>();
            values[r.Name] = t.ToArray();
            shapes[r.Name] = t.Dimensions.ToArray();
        }
        _state = MattingContract.StateInputs.Select((n, k) => (n, MattingContract.StateOutputs[k]))
            .ToDictionary(p => p.n, p => (values[p.Item2], shapes[p.Item2]));
        return new FrameResult(values, shapes);
    }

    /// <summary>
    /// Continues from <paramref name="other"/>'s recurrent state instead of its own: two files compared frame by frame
    /// on the same inputs, so a float difference cannot compound through the state over the sequence.
    /// </summary>
    public void FollowState(OrtMatting other) => _state = new(other._state);

    public void Dispose() => _session.Dispose();
}
