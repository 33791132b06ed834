using BiVM.Contracts;
using BiVM.Graph;
using Onnx;

namespace BiVM.Graph.Tests;

/// <summary>
/// GuidedUpsampleFusion on the exporter's DGF shape, built by hand: it moves the tail into both If branches, replaces
/// the else branch's chain by one GuidedUpsample and the then branch's tail alone (downsample 1) by one without A,
/// drops the head's Split where only a Concat rejoins it, leaves a fused file and a chain with a shared intermediate
/// alone, and Unfuse gives a graph it fuses again. (Numbers: GuidedUpsampleTests and GlueFusionTests run the results.)
/// </summary>
public sealed class GuidedUpsampleFusionTests
{
    private const TensorProto.Types.DataType F32 = TensorProto.Types.DataType.Float;

    /// <summary>src → (If r ≠ 1: DGF tail | decoder's fgr/pha) → Add(·, src), Clip, Clip; <paramref name="leak"/> also reads the Mul's output.</summary>
    private static ModelProto Exported(bool leak = false)
    {
        var g = new OnnxGraphBuilder("dgf");
        g.Input("src", F32, 1, 3, "H", "W");
        g.Input("A", F32, 1, 4, "h", "w");
        g.Input("B", F32, 1, 4, "h", "w");
        g.Input("fgr_small", F32, 1, 3, "H", "W");
        g.Input("pha_small", F32, 1, 1, "H", "W");
        g.Input("is_one", TensorProto.Types.DataType.Bool, 1);
        foreach (var (name, values) in new[] { ("i0", 0L), ("i2", 2L), ("i4", 4L) }) g.Initializer(Tensors.Int64(name, [values], 1));
        g.Initializer(Tensors.Int64("split_3_1", [3L, 1L], 2));
        g.Initializer(Tensors.Float("zero", [0f], 1));
        g.Initializer(Tensors.Float("one", [1f], 1));
        var then = g.Subgraph("then", () =>
        {
            g.Node("Identity", ["fgr_small"], ["skip_fgr"]);
            g.Node("Identity", ["pha_small"], ["skip_pha"]);
            return ["skip_fgr", "skip_pha"];
        });
        var otherwise = g.Subgraph("else", () =>
        {
            g.Node("Shape", ["src"], ["src_shape"]);
            g.Node("Slice", ["src_shape", "i2", "i4"], ["src_hw"]);
            g.Node("ReduceMean", ["src"], ["mean"]).Attribute("axes", new[] { 1L }).Attribute("keepdims", 1L);
            g.Node("Concat", ["src", "mean"], ["guide"]).Attribute("axis", 1L);
            foreach (var x in new[] { "A", "B" })
            {
                g.Node("Shape", [x], [x + "_shape"]);
                g.Node("Slice", [x + "_shape", "i0", "i2"], [x + "_nc"]);
                g.Node("Concat", [x + "_nc", "src_hw"], [x + "_sizes"]).Attribute("axis", 0L);
                g.Node("Resize", [x, "", "", x + "_sizes"], [x + "_fine"]).Attribute("mode", "linear").Attribute("coordinate_transformation_mode", "pytorch_half_pixel");
            }
            g.Node("Mul", ["A_fine", "guide"], ["a_x"]);
            g.Node("Add", ["a_x", "B_fine"], ["out"]);
            g.Node("Split", ["out", "split_3_1"], ["residual", "alpha"], "refiner.split").Attribute("axis", 1L);
            if (!leak) return ["residual", "alpha"];
            g.Node("Add", ["alpha", "a_x"], ["alpha_leak"]);
            return ["residual", "alpha_leak"];
        });
        g.Node("If", ["is_one"], ["chosen_fgr", "chosen_pha"], "refiner.if").Attribute("then_branch", then).Attribute("else_branch", otherwise);
        g.Node("Add", ["chosen_fgr", "src"], ["fgr_sum"]);
        g.Node("Clip", ["fgr_sum", "zero", "one"], ["fgr"]);
        g.Node("Clip", ["chosen_pha", "zero", "one"], ["pha"]);
        g.Output("fgr", F32, 1, 3, "H", "W");
        g.Output("pha", F32, 1, 1, "H", "W");
        return g.Build();
    }

    private static GraphProto Branch(ModelProto model, string name) => model.Graph.Node.Single(n => n.OpType == "If").Attribute.Single(a => a.Name == name).G;

    [Fact]
    public void Tail_moves_into_both_branches_and_the_else_chain_becomes_one_node()
    {
        var model = Exported();
        Assert.Equal(1, GuidedUpsampleFusion.Apply(model));
        Assert.Equal(["If"], model.Graph.Node.Select(n => n.OpType));
        Assert.Equal(["fgr", "pha"], model.Graph.Node[0].Output);
        var otherwise = Branch(model, "else_branch");
        var node = Assert.Single(otherwise.Node);
        Assert.Equal((BinaryConvSchema.GuidedUpsample, BinaryConvSchema.Domain), (node.OpType, node.Domain));
        Assert.Equal(["A", "B", "src"], node.Input);
        Assert.Equal(otherwise.Output.Select(o => o.Name), node.Output);
        var then = Branch(model, "then_branch");
        Assert.Equal(["Identity", "Identity", "Add", "Clip", "Clip"], then.Node.Select(n => n.OpType));
        Assert.Equal(then.Node[3].Output[0], then.Output[0].Name);
        Assert.Equal(then.Node[4].Output[0], then.Output[1].Name);

        Assert.Equal(0, GuidedUpsampleFusion.Apply(model)); // fused: nothing left
        var unfused = model.Clone();
        GuidedUpsampleFusion.Unfuse(unfused);
        Assert.Equal(0, GuidedUpsampleFusion.Count(unfused));
        Assert.Contains(Branch(unfused, "else_branch").Node, n => n.OpType == "Resize");
        Assert.Equal(1, GuidedUpsampleFusion.Apply(unfused)); // the unfused form (tail inside the branch) fuses again
        Assert.Equal(Branch(model, "else_branch").Node.Single().Input, Branch(unfused, "else_branch").Node.Single().Input);
    }

    /// <summary>
    /// The exporter's shape of both branches on the matting head's P: (r, α) = Split(P, [3, 1]) in the main graph, the
    /// then branch (downsample 1) Identity(r), Identity(α), the else branch the DGF on B + Concat(r, α);
    /// <paramref name="splitRead"/> also makes r a graph output (read outside the two branches).
    /// </summary>
    private static ModelProto ExportedWithHead(bool splitRead = false)
    {
        var model = Exported();
        var g = model.Graph;
        g.Input.Add(new ValueInfoProto { Name = "P", Type = g.Input.Single(i => i.Name == "fgr_small").Type.Clone() });
        var split = new NodeProto { OpType = "Split", Name = "project_mat.split", Input = { "P", "split_3_1" }, Output = { "r", "a" } };
        split.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        g.Node.Insert(0, split);
        var then = Branch(model, "then_branch");
        then.Node[0].Input[0] = "r";
        then.Node[1].Input[0] = "a";
        var otherwise = Branch(model, "else_branch");
        var concat = new NodeProto { OpType = "Concat", Name = "refiner.base_y", Input = { "r", "a" }, Output = { "base_y" } };
        concat.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        otherwise.Node.Insert(0, concat);
        otherwise.Node.Insert(1, new NodeProto { OpType = "Add", Name = "refiner.b_from_y", Input = { "B", "base_y" }, Output = { "B_y" } });
        foreach (var n in otherwise.Node.Where(n => n.OpType is "Shape" or "Resize" && n.Input[0] == "B")) n.Input[0] = "B_y";
        if (splitRead) g.Output.Add(new ValueInfoProto { Name = "r" });
        return model;
    }

    [Fact]
    public void At_downsample_1_the_tail_alone_becomes_one_node_and_the_heads_split_goes()
    {
        var model = ExportedWithHead();
        Assert.Equal(2, GuidedUpsampleFusion.Apply(model));
        Assert.Equal(["If"], model.Graph.Node.Select(n => n.OpType)); // the Split and the tail are gone from the main graph
        var then = Branch(model, "then_branch");
        var tail = Assert.Single(then.Node);
        Assert.Equal((BinaryConvSchema.GuidedUpsample, BinaryConvSchema.Domain), (tail.OpType, tail.Domain));
        Assert.Equal(["", "P", "src"], tail.Input);
        Assert.Equal(then.Output.Select(o => o.Name), tail.Output);
        var otherwise = Branch(model, "else_branch");
        Assert.DoesNotContain(otherwise.Node, n => n.OpType == "Concat"); // Concat(Split(P)) is P
        Assert.Equal(["B", "P"], otherwise.Node.Single(n => n.OpType == "Add").Input);
        Assert.DoesNotContain(model.Graph.Initializer, t => t.Name is "split_3_1" or "zero" or "one"); // nothing reads them now

        Assert.Equal(0, GuidedUpsampleFusion.Apply(model)); // fused: nothing left
        var unfused = model.Clone();
        GuidedUpsampleFusion.Unfuse(unfused);
        Assert.Equal(0, GuidedUpsampleFusion.Count(unfused));
        Assert.Equal(["Split", "Add", "Clip", "Clip"], Branch(unfused, "then_branch").Node.Select(n => n.OpType));
        Assert.Equal(2, GuidedUpsampleFusion.Apply(unfused)); // the tail alone with its Split in the branch fuses again
        Assert.Equal(["", "P", "src"], Branch(unfused, "then_branch").Node.Single().Input);

        // A Split whose output is read elsewhere stays; the tail is fused all the same.
        var read = ExportedWithHead(splitRead: true);
        Assert.Equal(2, GuidedUpsampleFusion.Apply(read));
        Assert.Equal(["Split", "If"], read.Graph.Node.Select(n => n.OpType));
        Assert.Equal(BinaryConvSchema.GuidedUpsample, Branch(read, "then_branch").Node.Single().OpType);
        Assert.Contains(Branch(read, "else_branch").Node, n => n.OpType == "Concat");
    }

    [Fact]
    public void A_chain_with_an_intermediate_read_elsewhere_is_left_alone()
    {
        var model = Exported(leak: true);
        var before = model.Clone();
        Assert.Equal(0, GuidedUpsampleFusion.Apply(model));
        Assert.Equal(before, model);
    }
}
