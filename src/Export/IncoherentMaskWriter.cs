using Onnx;

namespace BiVM.Export;

/// <summary>
/// SHB's incoherent mask with the τ* entropy search (src/Model/Decoder/IncoherentMask.cs, eqs. 14–16) in
/// standard ops, value for value:
/// <code>
///   d  = mean_c |f − Up2To(Down2(f))|                     [N, P]   (P = h·w)
///   thresholds = sort(d)[idx_k], idx_k = clamp(⌊(1 − density_k)·P⌋, 0, P − 1)   (TopK ascending + Gather)
///   m_k = d ≥ threshold_k;  p_k = Σ m_k·#(f ≥ 0) / (c·Σ m_k), clamped to [1e-12, 1]
///   τ* = threshold at argmax_k H(p_k) (first maximum = the sparser mask, like torch.argmax);  mask = d ≥ τ*
/// </code>
/// The index ⌊(1 − density)·P⌋ is computed in float64 as the C# code does, since P is only known at run time
/// and float32 would round e.g. 0.95·20 down to 18.
/// </summary>
internal static class IncoherentMaskWriter
{
    private const TensorProto.Types.DataType Float = TensorProto.Types.DataType.Float;

    /// <returns>The mask [N, 1, h, w], float 0/1.</returns>
    public static string Write(ExportGraph g, string name, string f, long channels, IReadOnlyList<double> densities)
    {
        var smooth = Resampling.Up2To(g, name + ".smooth", Resampling.Down2(g, f), f);
        var abs = g.Op("Abs", name + ".abs", [g.Op("Sub", name + ".diff", [f, smooth])]);
        var incoherence = g.Op("ReduceMean", name + ".incoherence", [abs], n => n.Attribute("axes", new long[] { 1 }).Attribute("keepdims", 0L));
        var d = g.Op("Reshape", name + ".flat", [incoherence, g.Int64s("n_flat", [0L, -1L], 2)]);

        var nonNegative = g.Op("Cast", name + ".nonneg", [g.Op("GreaterOrEqual", name + ".ge0", [f, g.Scalar(0f)])], n => n.Attribute("to", (long)Float));
        var positivesHw = g.Op("ReduceSum", name + ".positives", [nonNegative, g.Int64s("axis1", [1L], 1)], n => n.Attribute("keepdims", 0L));
        var positives = g.Op("Reshape", name + ".positives_flat", [positivesHw, g.Int64s("n_1_flat", [0L, 1L, -1L], 3)]);

        // Candidate thresholds: the sorted incoherence at ⌊(1 − density)·P⌋, clamped to [0, P − 1].
        var count = g.Op("Slice", name + ".count", [g.Op("Shape", name + ".d_shape", [d]), g.Int64s("i1", [1L], 1), g.Int64s("i2", [2L], 1)]);
        var sorted = g.Ops("TopK", name + ".sort", [d, count], 2, n => n.Attribute("axis", 1L).Attribute("largest", 0L).Attribute("sorted", 1L))[0];
        var countD = g.Op("Cast", name + ".count_f64", [count], n => n.Attribute("to", (long)TensorProto.Types.DataType.Double));
        var keep = g.Doubles("one_minus_density", densities.Select(x => 1 - x).ToArray(), densities.Count);
        var position = g.Op("Floor", name + ".floor", [g.Op("Mul", name + ".rank", [keep, countD])]);
        var index = g.Op("Cast", name + ".index", [position], n => n.Attribute("to", (long)TensorProto.Types.DataType.Int64));
        var last = g.Op("Sub", name + ".last", [count, g.Int64s("i1", [1L], 1)]);
        index = g.Op("Min", name + ".clamp_hi", [g.Op("Max", name + ".clamp_lo", [index, g.Int64s("i0", [0L], 1)]), last]);
        var thresholds = g.Op("Gather", name + ".thresholds", [sorted, index], n => n.Attribute("axis", 1L)); // [N, K]

        // Entropy of the signs of the masked features, one value per candidate.
        var dRow = g.Op("Unsqueeze", name + ".d_row", [d, g.Int64s("axis1", [1L], 1)]);              // [N, 1, P]
        var tCol = g.Op("Unsqueeze", name + ".t_col", [thresholds, g.Int64s("axis2", [2L], 1)]);     // [N, K, 1]
        var masks = g.Op("Cast", name + ".candidates", [g.Op("GreaterOrEqual", name + ".cand_ge", [dRow, tCol])], n => n.Attribute("to", (long)Float));
        var masked = g.Op("Mul", name + ".masked", [ReduceSum2(g, name + ".masked_sum", masks), g.Scalar(channels)]);
        var positive = ReduceSum2(g, name + ".positive", g.Op("Mul", name + ".masked_pos", [masks, positives]));
        // torch clamps with the scalars converted to float: 1 − 1e-12 becomes exactly 1.
        var p = g.Op("Clip", name + ".p", [g.Op("Div", name + ".ratio", [positive, masked]), g.Scalar(1e-12f), g.Scalar(1f)]);
        var q = g.Op("Sub", name + ".q", [g.Scalar(1f), p]);
        var plogp = g.Op("Mul", name + ".plogp", [p, g.Op("Log", name + ".logp", [p])]);
        var qlogq = g.Op("Mul", name + ".qlogq", [q, g.Op("Log", name + ".logq", [q])]);
        var entropy = g.Op("Neg", name + ".entropy", [g.Op("Add", name + ".h_sum", [plogp, qlogq])]);
        var best = g.Op("ArgMax", name + ".best", [entropy], n => n.Attribute("axis", 1L).Attribute("keepdims", 1L).Attribute("select_last_index", 0L));
        var tau = g.Op("GatherElements", name + ".tau", [thresholds, best], n => n.Attribute("axis", 1L)); // [N, 1]

        var on = g.Op("Cast", name + ".on", [g.Op("GreaterOrEqual", name + ".ge_tau", [d, tau])], n => n.Attribute("to", (long)Float));
        var shape = g.Op("Concat", name + ".shape", [g.Int64s("n_1", [0L, 1L], 2), Shapes.HeightWidth(g, f)], n => n.Attribute("axis", 0L));
        return g.Op("Reshape", name, [on, shape]);
    }

    private static string ReduceSum2(ExportGraph g, string name, string x) =>
        g.Op("ReduceSum", name, [x, g.Int64s("axis2", [2L], 1)], n => n.Attribute("keepdims", 0L));
}
