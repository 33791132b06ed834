namespace BiVM.Model.Numerics;

/// <summary>
/// The geometry of one 2-D convolution: NCHW input, [Cout, Cin/groups, k, k] weight, zero padding
/// (k − 1)/2 · dilation on every side (every conv in our networks is "same"-padded).
/// </summary>
public sealed record ConvShape(string Name, int Batch, int InChannels, int OutChannels, int Height, int Width,
    int Kernel, int Stride = 1, int Dilation = 1, int Groups = 1)
{
    public int Padding => (Kernel - 1) / 2 * Dilation;
    public int OutHeight => (Height + 2 * Padding - Dilation * (Kernel - 1) - 1) / Stride + 1;
    public int OutWidth => (Width + 2 * Padding - Dilation * (Kernel - 1) - 1) / Stride + 1;
    public int InputLength => Batch * InChannels * Height * Width;
    public int WeightLength => OutChannels * (InChannels / Groups) * Kernel * Kernel;
    public int OutputLength => Batch * OutChannels * OutHeight * OutWidth;
    public long[] InputShape => [Batch, InChannels, Height, Width];
    public long[] WeightShape => [OutChannels, InChannels / Groups, Kernel, Kernel];
    public long[] OutputShape => [Batch, OutChannels, OutHeight, OutWidth];
}

/// <summary>
/// Convolution forward and backward as plain loops in double precision: the independent oracle that
/// LibTorch's convolutions are checked against (no BLAS, no blocking, no layout changes). Besides each
/// result it returns the sum of the magnitudes of the terms that made it, which bounds the rounding error
/// any correct float32 summation order can have: a wrong value is one that differs by more than a small
/// fraction of that.
/// </summary>
public static class ReferenceConv2d
{
    /// <summary>y = conv(x, w) + b, and Σ|x·w| + |b| per output element.</summary>
    public static (double[] Value, double[] Magnitude) Forward(ConvShape s, float[] x, float[] w, float[] b)
    {
        var sum = new Accumulate(x, w, new double[s.OutputLength], new double[s.OutputLength], Into.Output);
        Visit(s, ref sum);
        int plane = s.OutHeight * s.OutWidth;
        for (int i = 0; i < sum.Value.Length; i++)
        {
            float bias = b[i / plane % s.OutChannels];
            sum.Value[i] += bias;
            sum.Magnitude[i] += Math.Abs(bias);
        }
        return (sum.Value, sum.Magnitude);
    }

    /// <summary>∂L/∂x for ∂L/∂y = <paramref name="gy"/>, and the magnitudes.</summary>
    public static (double[] Value, double[] Magnitude) InputGradient(ConvShape s, float[] w, float[] gy)
    {
        var sum = new Accumulate(gy, w, new double[s.InputLength], new double[s.InputLength], Into.Input);
        Visit(s, ref sum);
        return (sum.Value, sum.Magnitude);
    }

    /// <summary>∂L/∂w for ∂L/∂y = <paramref name="gy"/>, and the magnitudes.</summary>
    public static (double[] Value, double[] Magnitude) WeightGradient(ConvShape s, float[] x, float[] gy)
    {
        var sum = new Accumulate(x, gy, new double[s.WeightLength], new double[s.WeightLength], Into.Weight);
        Visit(s, ref sum);
        return (sum.Value, sum.Magnitude);
    }

    private enum Into { Output, Input, Weight }

    /// <summary>
    /// Adds one product of the convolution to the result it belongs to. Forward: x·w into y; ∂x: ∂y·w into x;
    /// ∂w: x·∂y into w. A struct with a switch rather than a delegate, so the JIT inlines it in the loop nest.
    /// </summary>
    private readonly record struct Accumulate(float[] A, float[] B, double[] Value, double[] Magnitude, Into Target)
    {
        public void Add(int xi, int wi, int yi)
        {
            var (a, b, into) = Target switch
            {
                Into.Output => (A[xi], B[wi], yi),
                Into.Input => (A[yi], B[wi], xi),
                _ => (A[xi], B[yi], wi),
            };
            double term = (double)a * b;
            Value[into] += term;
            Magnitude[into] += Math.Abs(term);
        }
    }

    /// <summary>Calls <paramref name="term"/>.Add(input index, weight index, output index) for every product of the convolution.</summary>
    private static void Visit(ConvShape s, ref Accumulate term)
    {
        int inPerGroup = s.InChannels / s.Groups, outPerGroup = s.OutChannels / s.Groups;
        for (int n = 0; n < s.Batch; n++)
        for (int co = 0; co < s.OutChannels; co++)
        {
            int group = co / outPerGroup;
            for (int oy = 0; oy < s.OutHeight; oy++)
            for (int ox = 0; ox < s.OutWidth; ox++)
            {
                int yi = ((n * s.OutChannels + co) * s.OutHeight + oy) * s.OutWidth + ox;
                for (int cg = 0; cg < inPerGroup; cg++)
                {
                    int ci = group * inPerGroup + cg;
                    for (int ky = 0; ky < s.Kernel; ky++)
                    {
                        int iy = oy * s.Stride - s.Padding + ky * s.Dilation;
                        if ((uint)iy >= (uint)s.Height) continue;
                        for (int kx = 0; kx < s.Kernel; kx++)
                        {
                            int ix = ox * s.Stride - s.Padding + kx * s.Dilation;
                            if ((uint)ix >= (uint)s.Width) continue;
                            term.Add(((n * s.InChannels + ci) * s.Height + iy) * s.Width + ix,
                                ((co * inPerGroup + cg) * s.Kernel + ky) * s.Kernel + kx, yi);
                        }
                    }
                }
            }
        }
    }
}
