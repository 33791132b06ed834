using BiVM.Contracts;
using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.CustomOps.SparseBinaryConv2d;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Google.Protobuf;
using Onnx;

using BiVM.CustomOps.Upsampling;
using Xunit.Abstractions;

namespace BiVM.CustomOps.Tests.Activation;

/// <summary>
/// The packed hand-off: ShortcutRPReLU's YPacked equals what the packer makes of its Y with the next conv's tau, and
/// a binary conv (dense or sparse) given XPacked computes exactly what it computes when it packs X itself, against
/// the float oracle too.
/// </summary>
public unsafe class PackedHandOffTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Conv_given_packed_input_equals_conv_packing_itself_and_the_oracle(bool sparse)
    {
        var c = new ConvCase(BinaryConv2dParams.Square(2, 70, 9, 13, 5, 3), 21);
        var p = c.P;
        var packed = ActivationPacker.Pack(c.X, c.Tau, p.Batch, p.InChannels, p.InHeight, p.InWidth);
        using var conv = new BinaryConvolution(p, c.PackedWeights, c.Alpha, c.Tau, c.Bias);
        int outCount = p.Batch * p.OutChannels * p.OutHeight * p.OutWidth;
        var own = new float[outCount];
        var given = new float[outCount];
        int k = 2;
        var (mh, mw) = MaskGeometry.MaskSize(p.OutHeight, p.OutWidth, k);
        var mask = new byte[p.Batch * mh * mw];
        for (int i = 0; i < mask.Length; i++) mask[i] = (byte)(i % 3 == 0 ? 1 : 0);
        var sparseConv = new SparseBinaryConvolution(conv, k);
        // NaN in the float input must not matter when the packed bits are given (X is not read).
        var poisoned = Enumerable.Repeat(float.NaN, c.X.Length).ToArray();
        fixed (float* x = c.X) fixed (float* nan = poisoned) fixed (ulong* xp = packed) fixed (float* y1 = own) fixed (float* y2 = given) fixed (byte* m = mask)
        {
            if (sparse)
            {
                sparseConv.Run(x, p.Batch, p.InHeight, p.InWidth, m, y1, ParallelRunners.Sequential);
                sparseConv.Run(nan, p.Batch, p.InHeight, p.InWidth, m, y2, ParallelRunners.Sequential, xp);
            }
            else
            {
                conv.Run(x, p.Batch, p.InHeight, p.InWidth, y1, ParallelRunners.Sequential);
                conv.Run(nan, p.Batch, p.InHeight, p.InWidth, y2, ParallelRunners.Sequential, xp);
            }
        }
        Assert.Equal(own, given);
        var dots = c.OracleDots();
        int plane = p.OutHeight * p.OutWidth;
        for (int i = 0; i < outCount; i++)
        {
            int co = i / plane % p.OutChannels, oy = i % plane / p.OutWidth, ox = i % p.OutWidth, n = i / plane / p.OutChannels;
            bool active = !sparse || mask[(n * mh + oy / k) * mw + ox / k] != 0;
            float product = dots[i] * c.Alpha[co];
            Assert.Equal(active ? product + c.Bias[co] : 0f, given[i]);
        }
    }

    [Fact]
    public void Glue_then_conv_with_packed_hand_off_equals_the_conv_packing_itself()
    {
        var c = new ConvCase(BinaryConv2dParams.Square(1, 70, 8, 11, 6, 3), 5);
        var p = c.P;
        var r = new Random(2);
        float[] Values(int n) => Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
        float[] shiftIn = Values(p.InChannels), slope = Values(p.InChannels), shiftOut = Values(p.InChannels);
        var addend = Values(c.X.Length);

        byte[] Model(bool handOff)
        {
            var g = new OnnxGraphBuilder("handoff");
            g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
            g.Input("X", TensorProto.Types.DataType.Float, 1, p.InChannels, p.InHeight, p.InWidth);
            g.Input("A", TensorProto.Types.DataType.Float, 1, p.InChannels, p.InHeight, p.InWidth);
            g.Initializer(Tensors.Float("b1", shiftIn, 1, p.InChannels, 1, 1));
            g.Initializer(Tensors.Float("k", slope, p.InChannels, 1, 1));
            g.Initializer(Tensors.Float("b2", shiftOut, 1, p.InChannels, 1, 1));
            g.Initializer(Tensors.Float("tau_next", c.Tau, p.InChannels));
            g.Node(BinaryConvSchema.ShortcutRPReLU, handOff ? ["X", "A", "", "b1", "k", "b2", "tau_next"] : ["X", "A", "", "b1", "k", "b2"],
                handOff ? ["G", "G.packed"] : ["G"], "glue", BinaryConvSchema.Domain);
            return ConvReadingG(g, c, handOff);
        }

        AssertHandOff(c, Model(false), Model(true), 2,
            NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(c.X, [1, p.InChannels, p.InHeight, p.InWidth])),
            NamedOnnxValue.CreateFromTensor("A", new DenseTensor<float>(addend, [1, p.InChannels, p.InHeight, p.InWidth])));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Upsample2xConcat_with_tau_next_writes_the_bits_its_conv_would_pack(int threads)
    {
        // G: 70 channels at 8×11 (two packed words, a row tail): U [1, 35, 4, 6] upsampled and cropped, then Z [1, 35, 8, 11] copied.
        const string op = BinaryConvSchema.Upsample2xConcat;
        var c = new ConvCase(BinaryConv2dParams.Square(1, 70, 8, 11, 6, 3), 9);
        var p = c.P;
        var r = new Random(4);
        float[] Values(int n) => Enumerable.Range(0, n).Select(i => i % 9 == 4 ? 0f : (float)(r.NextDouble() * 2 - 1)).ToArray();
        var z = Values(35 * p.InHeight * p.InWidth);
        var u = Values(35 * 4 * 6);

        byte[] Model(bool handOff)
        {
            var g = new OnnxGraphBuilder("handoff");
            g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
            g.Input("Z", TensorProto.Types.DataType.Float, 1, 35, p.InHeight, p.InWidth);
            g.Input("U", TensorProto.Types.DataType.Float, 1, 35, 4, 6);
            var producer = g.Node(op, ["U", "Z"], handOff ? ["G", "G.packed"] : ["G"], "producer", BinaryConvSchema.Domain);
            if (handOff) producer.Attribute(BinaryConvSchema.TauNext, c.Tau);
            return ConvReadingG(g, c, handOff);
        }

        AssertHandOff(c, Model(false), Model(true), threads,
            NamedOnnxValue.CreateFromTensor("Z", new DenseTensor<float>(z, [1, 35, p.InHeight, p.InWidth])),
            NamedOnnxValue.CreateFromTensor("U", new DenseTensor<float>(u, [1, 35, 4, 6])));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void The_glue_with_a_packed_output_writes_bands_of_rows_with_the_Y_of_the_glue_without_one(int threads)
    {
        // 45 rows of 100: one thread takes bands of 40 rows and a last one of 5, two threads bands of 6 and a last of 3
        // (ShortcutRPReLUOrtKernel.BandRows); the glue without TauNext runs plane by plane. Same Y, and the bits of it.
        const int channels = 70, h = 45, w = 100;
        Assert.Equal(threads == 1 ? 40 : 6, ShortcutRPReLUOrtKernel.BandRows(h, w, threads));
        var r = new Random(11 + threads);
        float[] Values(int n, float scale = 1f) => Enumerable.Range(0, n).Select(i => i % 9 == 4 ? 0f : (float)(r.NextDouble() * 2 - 1) * scale).ToArray();
        float[] tau = Values(channels, 0.3f), shiftIn = Values(channels), slope = Values(channels), shiftOut = Values(channels);
        float[] x = Values(channels * h * w), addend = Values(channels * h * w);

        Dictionary<string, Array> Run(bool packed)
        {
            var g = new OnnxGraphBuilder("band");
            g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
            g.Input("X", TensorProto.Types.DataType.Float, 1, channels, h, w);
            g.Input("A", TensorProto.Types.DataType.Float, 1, channels, h, w);
            g.Initializer(Tensors.Float("b1", shiftIn, channels));
            g.Initializer(Tensors.Float("k", slope, channels));
            g.Initializer(Tensors.Float("b2", shiftOut, channels));
            g.Initializer(Tensors.Float("t", tau, channels));
            g.Node(BinaryConvSchema.ShortcutRPReLU, packed ? ["X", "A", "", "b1", "k", "b2", "t"] : ["X", "A", "", "b1", "k", "b2"],
                packed ? ["Y", "P"] : ["Y"], "glue", BinaryConvSchema.Domain);
            g.Output("Y", TensorProto.Types.DataType.Float, 1, channels, h, w);
            if (packed) g.Output("P", TensorProto.Types.DataType.Uint64, 1, h, w, PackedLayout.WordsFor(channels));
            using var options = new SessionOptions { IntraOpNumThreads = threads };
            BiVMOps.Register(options);
            using var session = new InferenceSession(g.ToBytes(), options);
            using var results = session.Run([
                NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, [1, channels, h, w])),
                NamedOnnxValue.CreateFromTensor("A", new DenseTensor<float>(addend, [1, channels, h, w]))]);
            return results.ToDictionary(v => v.Name, v => v.Name == "Y" ? (Array)v.AsTensor<float>().ToArray() : v.AsTensor<ulong>().ToArray());
        }

        var planes = Run(packed: false);
        var bands = Run(packed: true);
        Assert.Equal((float[])planes["Y"], (float[])bands["Y"]);
        Assert.Equal(ActivationPacker.Pack((float[])bands["Y"], tau, 1, channels, h, w), (ulong[])bands["P"]);
    }

    [Theory]
    [InlineData(false, 1, 70, 11)]
    [InlineData(false, 2, 70, 11)]
    [InlineData(true, 2, 70, 11)]
    [InlineData(false, 1, 40, 75)]
    [InlineData(false, 2, 40, 75)]
    [InlineData(false, 2, 90, 75)]
    [InlineData(false, 1, 40, 75, 7)]  // an odd height: the last output row is the second of a pair (a crop of 8)
    [InlineData(false, 2, 40, 75, 9)]
    [InlineData(false, 1, 140, 75)]    // 70 upsampled channels (more than a word's) and 140 copied: four words a pixel
    [InlineData(false, 2, 140, 75, 9)]
    public void A_producer_writing_only_bits_writes_the_bits_of_the_Y_it_no_longer_writes(bool glue, int threads, int channels, int w, int h = 8)
    {
        // 70 channels at 8×11 (two packed words, a row tail), or 40, 90 and 140 (Upsample2xConcat: 60, 135 and 210 channels,
        // one, three and four words, which Upsample2xPacker packs a word at a time) at 8×75 (rows of whole vector blocks): YPacked and YPackedSecond against two τ, with Y written and with Y
        // the empty name; both must be the packer's bits of that Y. h rows (8, or odd for the concatenation's row pairs).
        int uh = (h + 1) / 2, uw = (w + 1) / 2;
        var r = new Random(glue ? 7 : 8);
        float[] Values(int n, float scale = 1f) => Enumerable.Range(0, n).Select(i => i % 9 == 4 ? 0f : (float)(r.NextDouble() * 2 - 1) * scale).ToArray();
        float[] tau = Values(channels, 0.3f), tauSecond = Values(channels, 0.3f);
        var z = Values(channels * h * w);
        var u = Values(channels / 2 * uh * uw);
        float[] shiftIn = Values(channels), slope = Values(channels), shiftOut = Values(channels);

        Dictionary<string, Array> Run(bool writesY)
        {
            var g = new OnnxGraphBuilder("bits");
            g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
            g.Input("Z", TensorProto.Types.DataType.Float, 1, channels, h, w);
            g.Input("U", TensorProto.Types.DataType.Float, 1, channels / 2, uh, uw);
            NodeBuilder producer;
            if (glue)
            {
                g.Initializer(Tensors.Float("b1", shiftIn, channels));
                g.Initializer(Tensors.Float("k", slope, channels));
                g.Initializer(Tensors.Float("b2", shiftOut, channels));
                g.Initializer(Tensors.Float("t1", tau, channels));
                g.Initializer(Tensors.Float("t2", tauSecond, channels));
                var inputs = Enumerable.Repeat("", BinaryConvSchema.ActivationInputCount).ToArray();
                (inputs[BinaryConvSchema.ActivationX], inputs[BinaryConvSchema.ActivationShiftIn], inputs[BinaryConvSchema.ActivationSlope]) = ("Z", "b1", "k");
                (inputs[BinaryConvSchema.ActivationShiftOut], inputs[BinaryConvSchema.ActivationTauNext], inputs[BinaryConvSchema.ActivationTauSecond]) = ("b2", "t1", "t2");
                producer = g.Node(BinaryConvSchema.ShortcutRPReLU, inputs, ["Y", "P1", "Projected", "P2"], "producer", BinaryConvSchema.Domain);
                producer.Proto.Output[BinaryConvSchema.ActivationProjectedOutput] = ""; // no projection (the builder names every output)
            }
            else
                producer = g.Node(BinaryConvSchema.Upsample2xConcat, ["U", "Z"], ["Y", "P1", "P2"], "producer", BinaryConvSchema.Domain)
                    .Attribute(BinaryConvSchema.TauNext, tau).Attribute(BinaryConvSchema.TauSecond, tauSecond);
            if (!writesY) producer.Proto.Output[0] = "";
            int total = glue ? channels : channels + channels / 2;
            if (writesY) g.Output("Y", TensorProto.Types.DataType.Float, 1, total, h, w);
            g.Output("P1", TensorProto.Types.DataType.Uint64, 1, h, w, PackedLayout.WordsFor(total));
            g.Output("P2", TensorProto.Types.DataType.Uint64, 1, h, w, PackedLayout.WordsFor(total));
            using var options = new SessionOptions { IntraOpNumThreads = threads };
            BiVMOps.Register(options);
            using var session = new InferenceSession(g.ToBytes(), options);
            using var results = session.Run([
                NamedOnnxValue.CreateFromTensor("Z", new DenseTensor<float>(z, [1, channels, h, w])),
                NamedOnnxValue.CreateFromTensor("U", new DenseTensor<float>(u, [1, channels / 2, uh, uw]))]);
            return results.ToDictionary(v => v.Name, v => v.Name == "Y" ? (Array)v.AsTensor<float>().ToArray() : v.AsTensor<ulong>().ToArray());
        }

        if (!glue)
        {
            // Upsample2xConcat's τ must cover its 1.5 × channels.
            tau = Values(channels + channels / 2, 0.3f);
            tauSecond = Values(channels + channels / 2, 0.3f);
        }
        var written = Run(writesY: true);
        var bitsOnly = Run(writesY: false);
        Assert.DoesNotContain("Y", bitsOnly.Keys);
        var yValues = (float[])written["Y"];
        int c = yValues.Length / (h * w);
        Assert.Equal(ActivationPacker.Pack(yValues, tau, 1, c, h, w), (ulong[])written["P1"]);
        Assert.Equal(ActivationPacker.Pack(yValues, tauSecond, 1, c, h, w), (ulong[])written["P2"]);
        Assert.Equal((ulong[])written["P1"], (ulong[])bitsOnly["P1"]);
        Assert.Equal((ulong[])written["P2"], (ulong[])bitsOnly["P2"]);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void A_producer_with_only_the_second_packed_output_writes_its_bits(bool glue, bool writesY)
    {
        // YPackedSecond without YPacked (tau_second / TauSecond alone): the packer's bits of Y against the second τ, from
        // Y's rows or from scratch (PackedHandOff.PackRowTwice / PackRowsTwice with the first pair absent).
        const int channels = 20, h = 5, w = 37;
        var r = new Random(glue ? 11 : 12);
        float[] Values(int n, float scale = 1f) => Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1) * scale).ToArray();
        float[] z = Values(channels * h * w), u = Values(channels * 3 * 19), shiftIn = Values(channels), slope = Values(channels), shiftOut = Values(channels);
        int total = glue ? channels : 2 * channels;
        var tauSecond = Values(total, 0.3f);
        var g = new OnnxGraphBuilder("second_only");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("Z", TensorProto.Types.DataType.Float, 1, channels, h, w);
        g.Input("U", TensorProto.Types.DataType.Float, 1, channels, 3, 19);
        NodeBuilder producer;
        if (glue)
        {
            g.Initializer(Tensors.Float("b1", shiftIn, channels));
            g.Initializer(Tensors.Float("k", slope, channels));
            g.Initializer(Tensors.Float("b2", shiftOut, channels));
            g.Initializer(Tensors.Float("t2", tauSecond, channels));
            var inputs = Enumerable.Repeat("", BinaryConvSchema.ActivationInputCount).ToArray();
            (inputs[BinaryConvSchema.ActivationX], inputs[BinaryConvSchema.ActivationShiftIn], inputs[BinaryConvSchema.ActivationSlope]) = ("Z", "b1", "k");
            (inputs[BinaryConvSchema.ActivationShiftOut], inputs[BinaryConvSchema.ActivationTauSecond]) = ("b2", "t2");
            producer = g.Node(BinaryConvSchema.ShortcutRPReLU, inputs, ["Y", "P1", "Projected", "P2"], "producer", BinaryConvSchema.Domain);
            producer.Proto.Output[BinaryConvSchema.ActivationPackedOutput] = "";
            producer.Proto.Output[BinaryConvSchema.ActivationProjectedOutput] = "";
        }
        else
        {
            producer = g.Node(BinaryConvSchema.Upsample2xConcat, ["U", "Z"], ["Y", "P1", "P2"], "producer", BinaryConvSchema.Domain)
                .Attribute(BinaryConvSchema.TauSecond, tauSecond);
            producer.Proto.Output[BinaryConvSchema.PackedOutput] = "";
        }
        if (!writesY) producer.Proto.Output[0] = "";
        g.Output("P2", TensorProto.Types.DataType.Uint64, 1, h, w, 1);
        if (writesY) g.Output("Y", TensorProto.Types.DataType.Float, 1, total, h, w);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        using var session = new InferenceSession(g.ToBytes(), options);
        using var results = session.Run([
            NamedOnnxValue.CreateFromTensor("Z", new DenseTensor<float>(z, [1, channels, h, w])),
            NamedOnnxValue.CreateFromTensor("U", new DenseTensor<float>(u, [1, channels, 3, 19]))]);
        var bits = results.Single(v => v.Name == "P2").AsTensor<ulong>().ToArray();
        // Y as the producer computes it: the glue's own values, or the concatenation's (read back from a run that writes Y).
        float[] y;
        if (writesY) y = results.Single(v => v.Name == "Y").AsTensor<float>().ToArray();
        else
        {
            producer.Proto.Output[0] = "Y";
            g.Output("Y", TensorProto.Types.DataType.Float, 1, total, h, w);
            using var withY = new InferenceSession(g.ToBytes(), options);
            using var again = withY.Run([
                NamedOnnxValue.CreateFromTensor("Z", new DenseTensor<float>(z, [1, channels, h, w])),
                NamedOnnxValue.CreateFromTensor("U", new DenseTensor<float>(u, [1, channels, 3, 19]))]);
            y = again.Single(v => v.Name == "Y").AsTensor<float>().ToArray();
        }
        Assert.Equal(ActivationPacker.Pack(y, tauSecond, 1, total, h, w), bits);
    }

    [Theory]
    // channels of U (upsampled) and of Z (copied), W, H, mask_scale, active fraction of the cells, threads
    [InlineData(16, 19, 512, 288, 16, 0.25, 1)]  // decode0's concatenation: 35 channels, one word a pixel
    [InlineData(16, 19, 75, 9, 4, 0.3, 2)]       // rows with tails, an odd height
    [InlineData(40, 40, 77, 8, 2, 0.5, 2)]       // two words a pixel (the packer a word at a time)
    [InlineData(16, 19, 130, 40, 2, 0.05, 1)]    // isolated cells of two pixels: the blocks' reach of one column either side
    [InlineData(8, 8, 130, 40, 1, 0.004, 1)]     // cells of one pixel: the reach of one row above and below a pair of rows
    [InlineData(8, 8, 64, 32, 8, 0.0, 1)]        // no cell active: only the row ends' scalar outputs are written
    [InlineData(8, 8, 64, 32, 8, 1.0, 1)]        // every cell active: every word
    public void Upsample2xConcat_with_a_mask_packs_the_second_tau_where_the_sparse_conv_reads_it(int upChannels, int copiedChannels, int w, int h, int scale, double active, int threads)
    {
        // YPackedSecond with second_mask_scale: the packer's bits of Y at every pixel an active output of the 3×3 reads
        // (within one row and column of an active cell), and the sentinel the buffer was bound with at some pixel no active
        // output reads (the blocks skipped); YPacked and Y as without the mask.
        int uh = (h + 1) / 2, uw = (w + 1) / 2, total = upChannels + copiedChannels;
        var r = new Random(w + 7 * scale);
        float[] Values(int n, float s = 1f) => Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1) * s).ToArray();
        float[] tau = Values(total, 0.3f), tauSecond = Values(total, 0.3f), z = Values(copiedChannels * h * w), u = Values(upChannels * uh * uw);
        var (mh, mw) = MaskGeometry.MaskSize(h, w, scale);
        var mask = Enumerable.Range(0, mh * mw).Select(_ => (byte)(r.NextDouble() < active ? 1 : 0)).ToArray();
        int words = PackedLayout.WordsFor(total);
        const ulong sentinel = 0xDEADBEEF_0BADF00D;

        (float[] Y, ulong[] P1, ulong[] P2) Run(bool masked)
        {
            var g = new OnnxGraphBuilder("masked");
            g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
            g.Input("U", TensorProto.Types.DataType.Float, 1, upChannels, uh, uw);
            g.Input("Z", TensorProto.Types.DataType.Float, 1, copiedChannels, h, w);
            g.Input("M", TensorProto.Types.DataType.Uint8, 1, 1, mh, mw);
            var node = g.Node(BinaryConvSchema.Upsample2xConcat, masked ? ["U", "Z", "M"] : ["U", "Z"], ["Y", "P1", "P2"], "concat", BinaryConvSchema.Domain)
                .Attribute(BinaryConvSchema.TauNext, tau).Attribute(BinaryConvSchema.TauSecond, tauSecond);
            if (masked) node.Attribute(BinaryConvSchema.SecondMaskScale, (long)scale);
            node.Proto.Output[0] = ""; // bits only: the packer's path
            g.Output("P1", TensorProto.Types.DataType.Uint64, 1, h, w, words);
            g.Output("P2", TensorProto.Types.DataType.Uint64, 1, h, w, words);
            if (!masked)
            {
                node.Proto.Output[0] = "Y";
                g.Output("Y", TensorProto.Types.DataType.Float, 1, total, h, w);
            }
            using var options = new SessionOptions { IntraOpNumThreads = threads };
            BiVMOps.Register(options);
            using var session = new InferenceSession(g.ToBytes(), options);
            var y = new float[total * h * w];
            var p1 = Enumerable.Repeat(sentinel, h * w * words).ToArray();
            var p2 = Enumerable.Repeat(sentinel, h * w * words).ToArray();
            using var uv = OrtValue.CreateTensorValueFromMemory(u, [1, upChannels, uh, uw]);
            using var zv = OrtValue.CreateTensorValueFromMemory(z, [1, copiedChannels, h, w]);
            using var mv = OrtValue.CreateTensorValueFromMemory(mask, [1, 1, mh, mw]);
            using var p1v = OrtValue.CreateTensorValueFromMemory(p1, [1, h, w, words]);
            using var p2v = OrtValue.CreateTensorValueFromMemory(p2, [1, h, w, words]);
            using var yv = OrtValue.CreateTensorValueFromMemory(y, [1, total, h, w]);
            using var runOptions = new RunOptions();
            if (masked) session.Run(runOptions, ["U", "Z", "M"], [uv, zv, mv], ["P1", "P2"], [p1v, p2v]);
            else session.Run(runOptions, ["U", "Z"], [uv, zv], ["Y", "P1", "P2"], [yv, p1v, p2v]);
            return (y, p1, p2);
        }

        var (yValues, plainFirst, plainSecond) = Run(masked: false);
        var (_, maskedFirst, maskedSecond) = Run(masked: true);
        Assert.Equal(ActivationPacker.Pack(yValues, tauSecond, 1, total, h, w), plainSecond);
        Assert.Equal(plainFirst, maskedFirst);
        int read = 0, skipped = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                // Read by an active output: a cell active among the rows and columns within one of the pixel.
                bool needed = false;
                for (int my = Math.Max(0, y - 1) / scale; my <= Math.Min(h - 1, y + 1) / scale; my++)
                    for (int mx = Math.Max(0, x - 1) / scale; mx <= Math.Min(w - 1, x + 1) / scale; mx++)
                        needed |= mask[my * mw + mx] != 0;
                int at = (y * w + x) * words;
                if (needed)
                {
                    read++;
                    for (int q = 0; q < words; q++) Assert.Equal(plainSecond[at + q], maskedSecond[at + q]);
                }
                else if (maskedSecond[at] == sentinel) skipped++;
            }
        log.WriteLine($"{total} channels at {w}×{h}, mask_scale {scale}: {read} pixels read by active outputs (their bits checked), {skipped} of the others left unwritten");
        if (Upsample2xPacker.IsSupported && read < h * w / 2) Assert.True(skipped > 0, "no pixel was left unwritten: the mask changed nothing");
    }

    [Theory]
    [InlineData(new[] { "U", "Z", "M" }, 3L, false, "attribute second_mask_scale = 3 must be one of 1, 2, 4, 8, 16")]
    [InlineData(new[] { "U", "Z", "M" }, 4L, true, "attribute second_mask_scale is given without tau_second: the mask says where YPackedSecond is read")]
    public void Upsample2xConcat_refuses_a_malformed_mask_in_one_line(string[] inputs, long scale, bool withoutSecond, string message)
    {
        var g = new OnnxGraphBuilder("bad");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("U", TensorProto.Types.DataType.Float, 1, 2, 2, 2);
        g.Input("Z", TensorProto.Types.DataType.Float, 1, 2, 4, 4);
        g.Input("M", TensorProto.Types.DataType.Uint8, 1, 1, 1, 1);
        var node = g.Node(BinaryConvSchema.Upsample2xConcat, inputs, withoutSecond ? ["Y", "P1"] : ["Y", "P1", "P2"], "concat", BinaryConvSchema.Domain)
            .Attribute(BinaryConvSchema.TauNext, new float[4]).Attribute(BinaryConvSchema.SecondMaskScale, scale);
        node.Proto.Output[0] = "";
        if (!withoutSecond) node.Attribute(BinaryConvSchema.TauSecond, new float[4]);
        g.Output("P1", TensorProto.Types.DataType.Uint64, 1, 4, 4, 1);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => new InferenceSession(g.ToBytes(), options).Dispose());
        Assert.Contains("Upsample2xConcat node 'concat': " + message, e.Message);
    }

    [Fact]
    public void Upsample2xConcat_refuses_a_mask_of_the_wrong_shape_when_it_runs()
    {
        var g = new OnnxGraphBuilder("bad");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("U", TensorProto.Types.DataType.Float, 1, 2, 4, 4);
        g.Input("Z", TensorProto.Types.DataType.Float, 1, 2, 8, 8);
        g.Input("M", TensorProto.Types.DataType.Uint8, 1, 1, 3, 3);
        g.Node(BinaryConvSchema.Upsample2xConcat, ["U", "Z", "M"], ["Y", "P1", "P2"], "concat", BinaryConvSchema.Domain)
            .Attribute(BinaryConvSchema.TauNext, new float[4]).Attribute(BinaryConvSchema.TauSecond, new float[4]).Attribute(BinaryConvSchema.SecondMaskScale, 4L)
            .Proto.Output[0] = "";
        g.Output("P1", TensorProto.Types.DataType.Uint64, 1, 8, 8, 1);
        g.Output("P2", TensorProto.Types.DataType.Uint64, 1, 8, 8, 1);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        using var session = new InferenceSession(g.ToBytes(), options);
        using var uv = OrtValue.CreateTensorValueFromMemory(new float[32], [1, 2, 4, 4]);
        using var zv = OrtValue.CreateTensorValueFromMemory(new float[128], [1, 2, 8, 8]);
        using var mv = OrtValue.CreateTensorValueFromMemory(new byte[9], [1, 1, 3, 3]);
        using var runOptions = new RunOptions();
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => session.Run(runOptions, ["U", "Z", "M"], [uv, zv, mv], ["P1", "P2"]).Dispose());
        Assert.Contains("Upsample2xConcat node 'concat': the mask (input 2) must be uint8 or bool [N, 1, ceil(H/k), ceil(W/k)] = [1, 1, 2, 2] for Y's 8 × 8 and second_mask_scale 4, got uint8 [1, 1, 3, 3]", e.Message);
    }

    [Theory]
    [InlineData(false, "Upsample2xConcat node 'producer': output Y is the empty name and there is no packed output: the node would write nothing")]
    [InlineData(true, "ShortcutRPReLU node 'producer': X is the empty name; only a glue with a folded 1×1 conv (PointwiseW …) may leave it out (its shapes then come from PointwiseXPacked)")]
    public void A_producer_that_would_write_nothing_or_has_no_shape_is_refused_in_one_line(bool glue, string message)
    {
        var g = new OnnxGraphBuilder("bad");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, 1, 2, 3, 3);
        g.Input("Z", TensorProto.Types.DataType.Float, 1, 2, 3, 3);
        g.Initializer(Tensors.Float("b", [0f, 0f], 2));
        if (glue) g.Node(BinaryConvSchema.ShortcutRPReLU, ["", "", "", "b", "b", "b", "b"], ["Y", "P"], "producer", BinaryConvSchema.Domain);
        else g.Node(BinaryConvSchema.Upsample2xConcat, ["X", "Z"], ["Unwritten"], "producer", BinaryConvSchema.Domain).Proto.Output[0] = "";
        if (!glue) g.Node("Identity", ["X"], ["X2"], "keep");
        g.Output(glue ? "Y" : "X2", TensorProto.Types.DataType.Float, 1, 2, 3, 3);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => new InferenceSession(g.ToBytes(), options).Dispose());
        Assert.Contains(message, e.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Dense_conv_without_X_takes_its_shape_from_XPacked(int threads)
    {
        // X the empty name (its producer writes only the bits): N, H and W from XPacked, Cin from tau; the same Y.
        var c = new ConvCase(BinaryConv2dParams.Square(2, 70, 9, 13, 5, 3), 22);
        var p = c.P;
        var packed = ActivationPacker.Pack(c.X, c.Tau, p.Batch, p.InChannels, p.InHeight, p.InWidth);
        float[] Run(bool withX)
        {
            var g = new OnnxGraphBuilder("conv");
            g.Input("X", TensorProto.Types.DataType.Float, p.Batch, p.InChannels, p.InHeight, p.InWidth);
            g.Input("XP", TensorProto.Types.DataType.Uint64, p.Batch, p.InHeight, p.InWidth, PackedLayout.WordsFor(p.InChannels));
            var conv = BinaryConvNodes.AddCustom(g, "bconv", withX ? "X" : "", "Y", c.PackedWeights,
                WeightPacker.PackedShape(p.OutChannels, p.InChannels, p.KernelHeight, p.KernelWidth), c.Alpha, c.Tau, c.Bias,
                new BinaryConvAttributes([3, 3], [1, 1], [1, 1, 1, 1], [1, 1]));
            conv.Proto.Input.Add("");
            conv.Proto.Input.Add("XP");
            g.Output("Y", TensorProto.Types.DataType.Float, p.Batch, p.OutChannels, p.OutHeight, p.OutWidth);
            using var options = new SessionOptions { IntraOpNumThreads = threads };
            BiVMOps.Register(options);
            using var session = new InferenceSession(g.ToBytes(), options);
            using var results = session.Run([
                NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(c.X, [p.Batch, p.InChannels, p.InHeight, p.InWidth])),
                NamedOnnxValue.CreateFromTensor("XP", new DenseTensor<ulong>(packed, [p.Batch, p.InHeight, p.InWidth, PackedLayout.WordsFor(p.InChannels)]))]);
            return results.Single().AsTensor<float>().ToArray();
        }
        Assert.Equal(Run(withX: true), Run(withX: false));
    }

    [Fact]
    public void Dense_conv_without_X_or_XPacked_is_refused_in_one_line()
    {
        var c = new ConvCase(BinaryConv2dParams.Square(1, 8, 5, 6, 4, 3), 3);
        var p = c.P;
        var g = new OnnxGraphBuilder("conv");
        g.Input("X", TensorProto.Types.DataType.Float, 1, 8, 5, 6);
        BinaryConvNodes.AddCustom(g, "bconv", "", "Y", c.PackedWeights, WeightPacker.PackedShape(p.OutChannels, p.InChannels, 3, 3), c.Alpha, c.Tau, c.Bias,
            new BinaryConvAttributes([3, 3], [1, 1], [1, 1, 1, 1], [1, 1]));
        g.Output("Y", TensorProto.Types.DataType.Float, 1, 4, 5, 6);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => new InferenceSession(g.ToBytes(), options).Dispose());
        Assert.Contains("BinaryConv2d node 'bconv': X is the empty name and there is no XPacked to take the shape from", e.Message);
    }

    [Fact]
    public void Tau_next_without_the_packed_output_is_refused_in_one_line()
    {
        var g = new OnnxGraphBuilder("bad");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, 1, 2, 3, 3);
        g.Input("Z", TensorProto.Types.DataType.Float, 1, 2, 3, 3);
        g.Node(BinaryConvSchema.Upsample2xConcat, ["X", "Z"], ["Y"], "up", BinaryConvSchema.Domain).Attribute(BinaryConvSchema.TauNext, [0f, 0f, 0f, 0f]);
        g.Output("Y", TensorProto.Types.DataType.Float, 1, 4, 3, 3);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => new InferenceSession(g.ToBytes(), options).Dispose());
        Assert.Contains("Upsample2xConcat node 'up': attribute tau_next is given but output YPacked is not (they go together)", e.Message);
    }

    [Fact]
    public void Glue_leaves_YPacked_unwritten_exactly_where_PackedUnread_holds()
    {
        // The refiner's Hidden bits at downsample 1 (HiddenHandOffFusion): with PackedUnread true the bits are not packed
        // (a sentinel in the bound buffer survives) and Y is the same; with false they are the packer's bits of Y.
        const int channels = 20, height = 5, width = 37;
        var r = new Random(8);
        float[] Values(int n) => Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
        float[] x = Values(channels * height * width), shiftIn = Values(channels), slope = Values(channels), shiftOut = Values(channels), tau = Values(channels);
        var g = new OnnxGraphBuilder("unread");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, 1, channels, height, width);
        g.Input("U", TensorProto.Types.DataType.Bool, 1);
        g.Initializer(Tensors.Float("b1", shiftIn, channels));
        g.Initializer(Tensors.Float("k", slope, channels));
        g.Initializer(Tensors.Float("b2", shiftOut, channels));
        g.Initializer(Tensors.Float("tau_next", tau, channels));
        var inputs = Enumerable.Repeat("", BinaryConvSchema.ActivationPackedUnread + 1).ToArray();
        (inputs[0], inputs[3], inputs[4], inputs[5], inputs[6], inputs[^1]) = ("X", "b1", "k", "b2", "tau_next", "U");
        g.Node(BinaryConvSchema.ShortcutRPReLU, inputs, ["Y", "Y.packed"], "glue", BinaryConvSchema.Domain);
        g.Output("Y", TensorProto.Types.DataType.Float, 1, channels, height, width);
        g.Output("Y.packed", TensorProto.Types.DataType.Uint64, 1, height, width, 1);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        using var session = new InferenceSession(g.ToBytes(), options);
        const ulong sentinel = 0xDEADBEEF_0BADF00D;
        (float[] Y, ulong[] Bits) Run(bool unread)
        {
            var y = new float[x.Length];
            var bits = Enumerable.Repeat(sentinel, height * width).ToArray();
            using var xv = OrtValue.CreateTensorValueFromMemory(x, [1, channels, height, width]);
            using var uv = OrtValue.CreateTensorValueFromMemory(new[] { unread }, [1]);
            using var yv = OrtValue.CreateTensorValueFromMemory(y, [1, channels, height, width]);
            using var bv = OrtValue.CreateTensorValueFromMemory(bits, [1, height, width, 1]);
            using var runOptions = new RunOptions();
            session.Run(runOptions, ["X", "U"], [xv, uv], ["Y", "Y.packed"], [yv, bv]);
            return (y, bits);
        }
        var (written, bits) = Run(false);
        var (unwritten, untouched) = Run(true);
        Assert.Equal(written, unwritten);
        Assert.Equal(ActivationPacker.Pack(written, tau, 1, channels, height, width), bits);
        Assert.All(untouched, word => Assert.Equal(sentinel, word));

        // Anything but one bool is refused in one line, naming the input.
        var bad = g.ToBytes();
        var model = ModelProto.Parser.ParseFrom(bad);
        model.Graph.Input[1].Type.TensorType.ElemType = (int)TensorProto.Types.DataType.Float;
        using var wrong = new InferenceSession(model.ToByteArray(), options);
        using var xf = OrtValue.CreateTensorValueFromMemory(x, [1, channels, height, width]);
        using var uf = OrtValue.CreateTensorValueFromMemory(new[] { 1f }, [1]);
        using var ro = new RunOptions();
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => wrong.Run(ro, ["X", "U"], [xf, uf], ["Y", "Y.packed"]).Dispose());
        Assert.Contains("ShortcutRPReLU node 'glue': PackedUnread must be one bool ([] or [1]), got float32 [1]", e.Message);
    }

    [Fact]
    public void Glue_refuses_PackedUnread_without_TauNext()
    {
        var g = new OnnxGraphBuilder("unread");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, 1, 2, 3, 3);
        g.Input("U", TensorProto.Types.DataType.Bool, 1);
        g.Initializer(Tensors.Float("c", [0.5f, -0.25f], 2));
        var inputs = Enumerable.Repeat("", BinaryConvSchema.ActivationPackedUnread + 1).ToArray();
        (inputs[0], inputs[3], inputs[4], inputs[5], inputs[^1]) = ("X", "c", "c", "c", "U");
        g.Node(BinaryConvSchema.ShortcutRPReLU, inputs, ["Y"], "glue", BinaryConvSchema.Domain);
        g.Output("Y", TensorProto.Types.DataType.Float, 1, 2, 3, 3);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => new InferenceSession(g.ToBytes(), options).Dispose());
        Assert.Contains("ShortcutRPReLU node 'glue': PackedUnread is given without TauNext: there is no YPacked to leave unwritten", e.Message);
    }

    /// <summary>The binary conv Y = conv(G) of <paramref name="c"/>, reading G.packed as XPacked with the hand-off; G, Y (and G.packed) are outputs.</summary>
    private static byte[] ConvReadingG(OnnxGraphBuilder g, ConvCase c, bool handOff)
    {
        var p = c.P;
        var conv = BinaryConvNodes.AddCustom(g, "bconv", "G", "Y", c.PackedWeights,
            WeightPacker.PackedShape(p.OutChannels, p.InChannels, p.KernelHeight, p.KernelWidth), c.Alpha, c.Tau, c.Bias,
            new BinaryConvAttributes([3, 3], [1, 1], [1, 1, 1, 1], [1, 1]));
        if (handOff)
        {
            conv.Proto.Input.Add("");
            conv.Proto.Input.Add("G.packed");
            g.Output("G.packed", TensorProto.Types.DataType.Uint64, 1, p.InHeight, p.InWidth, PackedLayout.WordsFor(p.InChannels));
        }
        g.Output("G", TensorProto.Types.DataType.Float, 1, p.InChannels, p.InHeight, p.InWidth);
        g.Output("Y", TensorProto.Types.DataType.Float, 1, p.OutChannels, p.OutHeight, p.OutWidth);
        return g.ToBytes();
    }

    /// <summary>Both models give the same G and Y, and G.packed is what the packer makes of G with the conv's τ.</summary>
    private static void AssertHandOff(ConvCase c, byte[] plainModel, byte[] handOffModel, int threads, params NamedOnnxValue[] inputs)
    {
        Dictionary<string, Array> Run(byte[] model)
        {
            using var options = new SessionOptions { IntraOpNumThreads = threads };
            BiVMOps.Register(options);
            using var session = new InferenceSession(model, options);
            using var results = session.Run(inputs);
            return results.ToDictionary(v => v.Name, v => v.Name.EndsWith(".packed") ? (Array)v.AsTensor<ulong>().ToArray() : v.AsTensor<float>().ToArray());
        }

        var p = c.P;
        var plain = Run(plainModel);
        var handed = Run(handOffModel);
        Assert.Equal((float[])plain["G"], (float[])handed["G"]);
        Assert.Equal((float[])plain["Y"], (float[])handed["Y"]);
        var expectedBits = ActivationPacker.Pack((float[])plain["G"], c.Tau, 1, p.InChannels, p.InHeight, p.InWidth);
        Assert.Equal(expectedBits, (ulong[])handed["G.packed"]);
    }
}
