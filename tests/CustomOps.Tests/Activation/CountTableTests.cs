using BiVM.Contracts;
using BiVM.CustomOps.Activation;
using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.CustomOps.SparseBinaryConv2d;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using Xunit.Abstractions;

namespace BiVM.CustomOps.Tests.Activation;

/// <summary>
/// The packed bits of a bits-only glue as tables of its folded 1×1 conv's popcount (<see cref="CountBitTable"/>): the
/// lookups against their specification (<see cref="CountBitTable.Word"/>), a table against the packer's compare, and
/// whole nodes (decode0's two SHB glues: a folded 1×1 and sparse 3×3, a folded normalization, two sets of τ or the head's
/// projection) against the same nodes without the tables (<see cref="ShortcutRPReLUOrtKernel.CountTables"/> 0), which take
/// the glue's arithmetic and the packer for every pixel: the same bits and values.
/// </summary>
public sealed unsafe class CountTableTests(ITestOutputHelper log)
{
    [Fact]
    public void Lookups_give_each_pixels_word_from_its_channels_tables()
    {
        if (!CountBitTable.IsSupported)
        {
            log.WriteLine("not run: this CPU has neither AVX-512 VBMI nor AVX2 (the glue takes its arithmetic and the packer instead)");
            return;
        }
        var r = new Random(11);
        foreach (int channels in new[] { 1, 7, 8, 9, 16 })
            foreach (var (from, to) in new[] { (0, 64), (0, 200), (5, 70), (64, 128), (3, 4), (130, 191) })
            {
                const int cin = 35, stride = 256;
                var counts = Enumerable.Range(0, channels * stride).Select(i => i % stride < to + 64 ? r.Next(cin + 1) : int.MaxValue).ToArray();
                var tables = new byte[channels * CountBitTable.TableBytes];
                var second = new byte[tables.Length];
                for (int c = 0; c < channels; c++)
                    for (int n = 0; n <= cin; n++)
                    {
                        tables[c * 64 + n] = r.Next(2) == 0 ? (byte)0 : (byte)(1 << (c & 7));
                        second[c * 64 + n] = r.Next(2) == 0 ? (byte)0 : (byte)(1 << (c & 7));
                    }
                var words = Enumerable.Repeat(0xDEADBEEFUL, stride).ToArray();
                var secondWords = Enumerable.Repeat(0xDEADBEEFUL, stride).ToArray();
                var alone = Enumerable.Repeat(0xDEADBEEFUL, stride).ToArray();
                fixed (int* k = counts) fixed (byte* t = tables, t2 = second) fixed (ulong* w = words, w2 = secondWords, a = alone)
                {
                    CountBitTable.Row(k, stride, channels, cin, t, t2, from, to, w, w2);
                    CountBitTable.Row(k, stride, channels, cin, t2, null, from, to, a, null);
                    for (int x = 0; x < stride; x++)
                    {
                        bool inside = x >= from && x < to;
                        Assert.Equal(inside ? CountBitTable.Word(k, stride, channels, t, x) : 0xDEADBEEFUL, words[x]);
                        Assert.Equal(inside ? CountBitTable.Word(k, stride, channels, t2, x) : 0xDEADBEEFUL, secondWords[x]);
                        Assert.Equal(secondWords[x], alone[x]);
                    }
                }
            }
    }

    [Fact]
    public void A_tables_bit_is_the_packers_bit_of_its_value()
    {
        float[] values = [-1f, -0f, 0f, 0.5f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, 2f];
        var table = new byte[CountBitTable.TableBytes];
        foreach (float tau in new[] { 0f, 0.5f, -1f, float.PositiveInfinity, float.NegativeInfinity })
            fixed (byte* t = table)
            {
                CountBitTable.Build(values, values.Length - 1, tau, 10, t);
                for (int n = 0; n < values.Length; n++)
                    Assert.Equal(PackedLayout.SignBit(values[n] - tau) == 1 ? (byte)(1 << 2) : (byte)0, table[n]);
                Assert.All(table.Skip(values.Length), b => Assert.Equal(0, b));
            }
    }

    [Theory]
    // Cin, Cout, H, W, mask_scale, active fraction of the cells, only bits written (else Y, YPacked and the projection),
    // folded normalization, threads; outputs of 4 MiB and more per image (the folded 1×1 from the bits, its counts into
    // the glue). The bit tables:
    [InlineData(35, 16, 128, 520, 16, 0.25, true, true, 2)]  // decode0's first SHB glue: rows not a multiple of 64, runs at the right edge
    [InlineData(35, 16, 64, 1024, 16, 0.0, true, true, 1)]   // no cell active: every word from the tables
    [InlineData(35, 16, 64, 1030, 8, 1.0, true, true, 2)]    // every cell active: every word from the arithmetic
    [InlineData(62, 9, 130, 1000, 4, 0.4, true, false, 1)]   // the most input channels, one byte and one bit, no normalization
    // The value tables:
    [InlineData(16, 16, 128, 520, 16, 0.25, false, true, 2)] // decode0's second: the head's projection
    [InlineData(31, 16, 64, 1030, 8, 0.0, false, false, 1)]  // the most input channels, no cell active
    [InlineData(7, 16, 130, 520, 4, 1.0, false, true, 2)]    // every cell active
    public void Count_tables_give_the_glues_bits_and_values(int cin, int cout, int h, int w, int scale, double active, bool bitsOnly, bool norm, int threads)
    {
        const int n = 2, k = 4;
        var r = new Random(h * 7 + w + scale + cin);
        var (mh, mw) = MaskGeometry.MaskSize(h, w, scale);
        var mask = Enumerable.Range(0, n * mh * mw).Select(_ => r.NextDouble() < active ? (byte)1 : (byte)0).ToArray();
        var pointTau = RandomValues.Uniform(r, cin, 0.3f);
        var sparseTau = RandomValues.Uniform(r, cin, 0.3f);
        var x = RandomValues.Uniform(r, n * cin * h * w, 2f);
        var xPacked = ActivationPacker.Pack(x, pointTau, n, cin, h, w);
        var sparsePacked = ActivationPacker.Pack(x, sparseTau, n, cin, h, w);

        var g = new OnnxGraphBuilder("count_tables");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("XP", TensorProto.Types.DataType.Uint64, n, h, w, 1);
        g.Input("SP", TensorProto.Types.DataType.Uint64, n, h, w, 1);
        g.Input("M", TensorProto.Types.DataType.Uint8, n, 1, mh, mw);
        g.Initializer(Tensors.Float("b1", RandomValues.Uniform(r, cout), cout));
        g.Initializer(Tensors.Float("k", RandomValues.Uniform(r, cout), cout));
        g.Initializer(Tensors.Float("b2", RandomValues.Uniform(r, cout), cout));
        g.Initializer(Tensors.Float("tn", RandomValues.Uniform(r, cout, 0.5f), cout));
        g.Initializer(Tensors.Float("ns", RandomValues.Uniform(r, cout, 2f), cout));
        g.Initializer(Tensors.Float("nb", RandomValues.Uniform(r, cout), cout));
        g.Initializer(Tensors.Float("PJ", RandomValues.Uniform(r, k * cout), k, cout, 1, 1));
        g.Initializer(Tensors.UInt64("PW", WeightPacker.Pack(Enumerable.Range(0, cout * cin).Select(_ => r.Next(2) == 0 ? 1f : -1f).ToArray(), cout, cin, 1, 1), cout, 1, 1, 1));
        g.Initializer(Tensors.Float("Pa", RandomValues.Uniform(r, cout, 0.5f), cout));
        g.Initializer(Tensors.Float("Pt", pointTau, cin));
        g.Initializer(Tensors.Float("Pb", RandomValues.Uniform(r, cout, 0.2f), cout));
        g.Initializer(Tensors.UInt64("SW", WeightPacker.Pack(Enumerable.Range(0, cout * cin * 9).Select(_ => r.Next(2) == 0 ? 1f : -1f).ToArray(), cout, cin, 3, 3), cout, 3, 3, 1));
        g.Initializer(Tensors.Float("Sa", RandomValues.Uniform(r, cout, 0.5f), cout));
        g.Initializer(Tensors.Float("St", sparseTau, cin));
        g.Initializer(Tensors.Float("Sb", RandomValues.Uniform(r, cout, 0.2f), cout));
        g.Initializer(Tensors.Float("ts", RandomValues.Uniform(r, cout, 0.5f), cout));
        string[] inputs = ["", "", "", "b1", "k", "b2", "tn", norm ? "ns" : "", norm ? "nb" : "", bitsOnly ? "" : "PJ", "", "PW", "Pa", "Pt", "Pb", "XP", "", "SW", "Sa", "St", "Sb", "M", "SP", bitsOnly ? "ts" : ""];
        string[] named = bitsOnly ? ["Y.packed", "Y.second"] : ["Y", "Y.packed", "P"];
        var glue = g.Node(BinaryConvSchema.ShortcutRPReLU, inputs, named, "glue", BinaryConvSchema.Domain).Attribute(BinaryConvSchema.ActivationSparseMaskScale, (long)scale);
        // Outputs Y (or the empty name), YPacked, Projected (or the empty name), YPackedSecond where only bits are written.
        glue.Proto.Output.Clear();
        glue.Proto.Output.Add(bitsOnly ? ["", "Y.packed", "", "Y.second"] : ["Y", "Y.packed", "P"]);
        foreach (string name in named)
            if (name == "Y") g.Output(name, TensorProto.Types.DataType.Float, n, cout, h, w);
            else if (name == "P") g.Output(name, TensorProto.Types.DataType.Float, n, k, h, w);
            else g.Output(name, TensorProto.Types.DataType.Uint64, n, h, w, 1);
        var model = Google.Protobuf.MessageExtensions.ToByteArray(ModelProto.Parser.ParseFrom(g.ToBytes()));

        Dictionary<string, Array> Run(int tables)
        {
            int before = ShortcutRPReLUOrtKernel.CountTables;
            ShortcutRPReLUOrtKernel.CountTables = tables;
            try
            {
                using var options = new SessionOptions { IntraOpNumThreads = threads };
                BiVMOps.Register(options);
                using var session = new InferenceSession(model, options);
                using var results = session.Run([
                    NamedOnnxValue.CreateFromTensor("XP", new DenseTensor<ulong>(xPacked, [n, h, w, 1])),
                    NamedOnnxValue.CreateFromTensor("SP", new DenseTensor<ulong>(sparsePacked, [n, h, w, 1])),
                    NamedOnnxValue.CreateFromTensor("M", new DenseTensor<byte>(mask, [n, 1, mh, mw]))]);
                return results.ToDictionary(v => v.Name, v => v.Name.StartsWith("Y.") ? (Array)v.AsTensor<ulong>().ToArray() : v.AsTensor<float>().ToArray());
            }
            finally
            {
                ShortcutRPReLUOrtKernel.CountTables = before;
            }
        }

        var expected = Run(tables: 0);
        var actual = Run(tables: 1);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var name in expected.Keys) Assert.Equal(expected[name], actual[name]); // floats compared bit for bit
        log.WriteLine($"{cin} → {cout} at {w}×{h}, mask_scale {scale}, {mask.Count(b => b != 0)} of {mask.Length} cells active, " +
            $"{(CountBitTable.IsSupported ? "tables" : "no tables on this CPU")}: {string.Join(", ", expected.Keys.Order())} identical");
    }
}
