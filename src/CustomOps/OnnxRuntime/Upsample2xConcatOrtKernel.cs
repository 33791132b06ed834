using BiVM.Contracts;
using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.SparseBinaryConv2d;
using BiVM.CustomOps.Upsampling;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// The Upsample2xConcat node's kernel: one pass that writes each channel plane of the concatenated output once,
/// the upsampled inputs through <see cref="Upsample2x"/> (no full-size intermediate, no crop copy), the others by
/// copying. One plane per task on the session's intra-op threads. The axis taps depend only on the sizes and are
/// kept for the next frame. With packed outputs (YPacked, YPackedSecond) it works one output row at a time and packs
/// the row while it is in L1; where Y is the empty name the rows go to per-thread scratch only and no float is written,
/// and where moreover the channels fit one word a pixel and the CPU has 512-bit vectors or AVX2, no row is written at all:
/// <see cref="Upsample2xPacker"/> compares each value in the register that computed it (decode0 and decode1). With
/// second_mask_scale the last input is the mask of the sparse conv that reads YPackedSecond, and that packer leaves the
/// second τ's words unwritten in the blocks no active output reads (docs/model-contract.md).
/// </summary>
internal sealed unsafe class Upsample2xConcatOrtKernel : IBiVMKernel
{
    private sealed record Geometry(int InHeight, int InWidth, BilinearAxis Rows, BilinearAxis Columns);

    private readonly int _inputs, _upsampled, _maskScale;
    private readonly float[]? _tauNext, _tauSecond;
    private readonly bool _writesY;
    private Geometry? _geometry;

    /// <param name="inputs">The float inputs (upsampled, then copied).</param>
    /// <param name="maskScale">second_mask_scale k, or 0: with it the input after the float ones is the mask of the sparse conv that reads YPackedSecond.</param>
    private Upsample2xConcatOrtKernel(string location, int inputs, int upsampled, float[]? tauNext, float[]? tauSecond, bool writesY, int maskScale)
    {
        Location = location;
        _inputs = inputs;
        _upsampled = upsampled;
        _tauNext = tauNext;
        _tauSecond = tauSecond;
        _writesY = writesY;
        _maskScale = maskScale;
    }

    public string Location { get; }

    public static Upsample2xConcatOrtKernel Create(BiVMOpDefinition op, nint info, out string nodeName)
    {
        nodeName = OrtApi.KernelInfoNodeName(info);
        int inputs = OrtApi.KernelInfoInputCount(info);
        long maskScale = OrtApi.KernelInfoAttributeInt(info, BinaryConvSchema.SecondMaskScale) ?? 0;
        if (maskScale != 0)
        {
            if (!MaskGeometry.AllowedScales.Contains((int)maskScale) || maskScale > int.MaxValue)
                throw new OpValidationException($"attribute {BinaryConvSchema.SecondMaskScale} = {maskScale} must be one of {string.Join(", ", MaskGeometry.AllowedScales)}");
            inputs--; // the last input is the mask
        }
        long upsampled = OrtApi.KernelInfoAttributeInt(info, BinaryConvSchema.UpsampledInputs) ?? 1;
        if (upsampled < 1 || upsampled >= inputs)
            throw new OpValidationException($"attribute {BinaryConvSchema.UpsampledInputs} = {upsampled} must leave at least one input to upsample and one to copy; the node has {inputs} inputs");
        var tauNext = PackedHandOff.ReadTauNext(info);
        var tauSecond = PackedHandOff.ReadTauNext(info, BinaryConvSchema.SecondPackedOutput, BinaryConvSchema.TauSecond, "YPackedSecond");
        bool writesY = OrtApi.KernelInfoOutputName(info, 0).Length > 0;
        if (!writesY && tauNext is null && tauSecond is null)
            throw new OpValidationException("output Y is the empty name and there is no packed output: the node would write nothing");
        if (maskScale != 0 && tauSecond is null)
            throw new OpValidationException($"attribute {BinaryConvSchema.SecondMaskScale} is given without {BinaryConvSchema.TauSecond}: the mask says where YPackedSecond is read");
        return new Upsample2xConcatOrtKernel(BinaryConvOrtKernel.Where(op, nodeName), inputs, (int)upsampled, tauNext, tauSecond, writesY, (int)maskScale);
    }

    public void Compute(nint context)
    {
        var views = new OrtTensorView[_inputs];
        for (int i = 0; i < _inputs; i++)
        {
            var v = views[i] = OrtTensorView.Read(OrtApi.KernelContextInput(context, i));
            if (v.Type != OrtElementType.Float) throw new OpValidationException($"input {i} must be float32, got {OrtTensorView.TypeText(v.Type)}");
            if (v.Dims.Length != 4) throw new OpValidationException($"input {i} must have rank 4 [N, C, H, W], got {v.Shape}");
            if (v.Dims.Any(d => d > int.MaxValue)) throw new OpValidationException($"input {i} {v.Shape} is too large");
        }
        var first = views[0].Dims;
        var copied = views[_upsampled].Dims;
        for (int i = 0; i < _inputs; i++)
        {
            var d = views[i].Dims;
            var like = i < _upsampled ? first : copied;
            if (d[0] != first[0] || d[2] != like[2] || d[3] != like[3])
                throw new OpValidationException(i < _upsampled
                    ? $"upsampled input {i} {views[i].Shape} must have input 0's N, H and W {views[0].Shape}"
                    : $"input {i} {views[i].Shape} must have N = {first[0]} and input {_upsampled}'s H and W {views[_upsampled].Shape}");
        }
        int batch = (int)first[0], inHeight = (int)first[2], inWidth = (int)first[3];
        int height = (int)copied[2], width = (int)copied[3];
        if (height > 2L * inHeight || width > 2L * inWidth)
            throw new OpValidationException($"the copied inputs' H × W {height} × {width} exceed twice the upsampled inputs' {inHeight} × {inWidth}");
        long channels = views.Sum(v => v.Dims[1]);
        if (channels > int.MaxValue) throw new OpValidationException("too many channels");
        float* y = _writesY ? (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, 0, [batch, channels, height, width])) : null;
        ulong* packed = _tauNext is null ? null : PackedHandOff.Output(context, _tauNext, batch, channels, height, width);
        ulong* second = _tauSecond is null ? null : PackedHandOff.Output(context, _tauSecond, batch, channels, height, width,
            BinaryConvSchema.SecondPackedOutput, BinaryConvSchema.TauSecond);
        byte* mask = null;
        int maskHeight = 0, maskWidth = 0;
        if (_maskScale != 0)
        {
            var m = OrtTensorView.Read(OrtApi.KernelContextInput(context, _inputs));
            (maskHeight, maskWidth) = MaskGeometry.MaskSize(height, width, _maskScale);
            long[] maskDims = [batch, 1, maskHeight, maskWidth];
            if (m.Type is not (OrtElementType.UInt8 or OrtElementType.Bool) || !m.Dims.SequenceEqual(maskDims))
                throw new OpValidationException($"the mask (input {_inputs}) must be uint8 or bool [N, 1, ceil(H/k), ceil(W/k)] = {OrtTensorView.ShapeText(maskDims)} for Y's {height} × {width} and {BinaryConvSchema.SecondMaskScale} {_maskScale}, got {OrtTensorView.TypeText(m.Type)} {m.Shape}");
            mask = (byte*)m.Data;
        }
        long plane = (long)height * width;
        if (batch == 0 || channels == 0 || plane == 0) return;

        var g = _geometry;
        if (g is null || g.InHeight != inHeight || g.InWidth != inWidth || g.Rows.OutputLength != height || g.Columns.OutputLength != width)
            _geometry = g = new Geometry(inHeight, inWidth, BilinearAxis.Doubled(inHeight, height), BilinearAxis.Doubled(inWidth, width));

        var start = new int[_inputs + 1];
        for (int i = 0; i < _inputs; i++) start[i + 1] = start[i] + (int)views[i].Dims[1];
        int total = (int)channels;
        long inPlane = (long)inHeight * inWidth;
        int upsampledChannels = start[_upsampled];
        // Channel c of image n: its plane in the input that holds it (by the prefix sums); the first upsampledChannels
        // channels are the upsampled inputs' (input-sized planes), the others the copied inputs' (output-sized).
        float* ChannelPlane(int n, int c)
        {
            int i = 0;
            while (c >= start[i + 1]) i++;
            return (float*)views[i].Data + (n * views[i].Dims[1] + c - start[i]) * (i < _upsampled ? inPlane : plane);
        }
        // Output rows [oy0, oy1) of channel c of image n, at dst: upsampled or copied.
        void ChannelRows(int n, int c, int oy0, int oy1, float* dst)
        {
            float* source = ChannelPlane(n, c);
            if (c < upsampledChannels)
                Upsample2x.Rows(source, inWidth, g.Rows, g.Columns, oy0, oy1, dst, Upsample2x.BestLanes);
            else
            {
                long bytes = (long)(oy1 - oy0) * width * sizeof(float);
                Buffer.MemoryCopy(source + (long)oy0 * width, dst, bytes, bytes);
            }
        }
        var runner = OrtParallelRunner.For(context);
        if (packed is null && second is null)
        {
            // One channel plane per task.
            runner(batch * total, task => ChannelRows(task / total, task % total, 0, height, y + (long)task * plane));
            return;
        }
        if (y is null && packed is not null && Upsample2xPacker.IsSupported)
        {
            // Only bits: each value compared in the register that computed it (Upsample2xPacker), 64 channels (one word of
            // each pixel) at a time. With more than one word a pixel, each word's rows are packed into scratch and then
            // set among the pixels' other words (decode2's and decode3's concatenations: 2 and 4 words; before, their rows were
            // upsampled into scratch and packed from there: 0.994 of a 512×288 frame, the node 2–3 % faster).
            int words = PackedLayout.WordsFor(total);
            var planes = new nint[batch * total];
            for (int n = 0; n < batch; n++)
                for (int c = 0; c < total; c++)
                    planes[n * total + c] = (nint)ChannelPlane(n, c);
            fixed (float* tau = _tauNext, tauSecond = _tauSecond)
            {
                float* t = tau, t2 = tauSecond;
                // Row 0, then the pairs 2i + 1, 2i + 2 (each pair reads the same two input rows: PackRowPair loads
                // them once), a last row alone where the height is even.
                int units = height == 0 ? 0 : height / 2 + 1;
                runner(batch * units, unit =>
                {
                    int n = unit / units, oy = Math.Max(0, 2 * (unit % units) - 1);
                    bool alone = oy == 0 || oy + 1 == height;
                    int rows = alone ? 1 : 2;
                    long row = (long)n * height + oy;
                    // The mask cells whose outputs read these rows (one row on either side: the sparse 3×3's reach), ORed
                    // over their mask rows: where none is active the second τ's words are left unwritten.
                    var cells = default(Upsample2xPacker.SecondCells);
                    byte* active = stackalloc byte[mask is null ? 0 : maskWidth];
                    if (mask is not null)
                    {
                        new Span<byte>(active, maskWidth).Clear();
                        int my0 = Math.Max(0, oy - 1) / _maskScale, my1 = Math.Min(height - 1, oy + rows) / _maskScale;
                        for (int my = my0; my <= my1; my++)
                        {
                            byte* cellRow = mask + ((long)n * maskHeight + my) * maskWidth;
                            for (int mx = 0; mx < maskWidth; mx++) active[mx] |= cellRow[mx];
                        }
                        cells = new Upsample2xPacker.SecondCells(active, maskWidth, _maskScale);
                    }
                    // A word's rows in scratch: the first τ's, then the second's (rows · width words each).
                    ulong* scratch = words == 1 ? null : ThreadScratch.WordRows(2 * rows * width);
                    fixed (nint* p = &planes[n * total])
                        for (int word = 0; word < words; word++)
                        {
                            int c0 = 64 * word, count = Math.Min(64, total - c0), up = Math.Clamp(upsampledChannels - c0, 0, count);
                            ulong* d = words == 1 ? packed + row * width : scratch;
                            ulong* d2 = second is null ? null : words == 1 ? second + row * width : scratch + rows * width;
                            float* wordTau = t + c0, wordTauSecond = t2 is null ? null : t2 + c0;
                            if (alone)
                                Upsample2xPacker.PackRow((float**)p + c0, up, count, inWidth, g.Rows, g.Columns, oy, wordTau, d, wordTauSecond, d2, cells);
                            else
                                Upsample2xPacker.PackRowPair((float**)p + c0, up, count, inWidth, g.Rows, g.Columns, oy, wordTau, d, wordTauSecond, d2, cells);
                            if (words == 1) continue;
                            // The rows are consecutive in YPacked too: pixel i of them has its words at (row · width + i) · words.
                            PackedLayout.SetWord(d, rows * width, packed + row * width * words, words, word);
                            if (d2 is not null) PackedLayout.SetWord(d2, rows * width, second + row * width * words, words, word);
                        }
                });
            }
            return;
        }
        // With the packed hand-offs: one output row at a time, every channel's row (into Y, or into scratch where Y is
        // not written), then that row's bits while it is in L1.
        runner(batch * height, row =>
        {
            int n = row / height, oy = row % height;
            float* rows = y is null ? ThreadScratch.Rows(total * width) : null;
            for (int c = 0; c < total; c++)
                ChannelRows(n, c, oy, oy + 1, rows is null ? y + ((long)n * total + c) * plane + (long)oy * width : rows + (long)c * width);
            if (rows is null) PackedHandOff.PackRowTwice(y, _tauNext, _tauSecond, total, height, width, n, oy, packed, second);
            else PackedHandOff.PackRowsTwice(rows, _tauNext, _tauSecond, total, height, width, n, oy, packed, second);
        });
    }

    public void Dispose()
    {
    }
}
