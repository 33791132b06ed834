using BiVM.CustomOps.BitPacking;

namespace BiVM.CustomOps.Tests.BitPacking;

public class WeightPackerTests
{
    [Fact]
    public void One_hot_pins_layout_cout_ky_kx_word_bit()
    {
        // [Cout=2, Cin=67, 3, 3]: only w[1, 65, 2, 0] is negative → word ((1·3 + 2)·3 + 0)·2 + 1, bit 1.
        const int cout = 2, cin = 67;
        var w = new float[cout * cin * 9];
        w[((1 * cin + 65) * 3 + 2) * 3 + 0] = -0.5f;
        var packed = WeightPacker.Pack(w, cout, cin, 3, 3);
        Assert.Equal(new long[] { 2, 3, 3, 2 }, WeightPacker.PackedShape(cout, cin, 3, 3));
        Assert.Equal(36, packed.Length);
        for (int i = 0; i < packed.Length; i++)
            Assert.Equal(i == ((1 * 3 + 2) * 3 + 0) * 2 + 1 ? 1UL << 1 : 0UL, packed[i]);
    }

    [Fact]
    public void Zero_is_plus_one_and_unpack_inverts_pack()
    {
        var rng = new Random(3);
        var w = Enumerable.Range(0, 5 * 17 * 9).Select(i => i % 13 == 0 ? 0f : (float)(rng.NextDouble() - 0.5)).ToArray();
        var signs = WeightPacker.Unpack(WeightPacker.Pack(w, 5, 17, 3, 3), 5, 17, 3, 3);
        Assert.Equal(w.Select(v => v >= 0 ? 1f : -1f), signs);
    }

    [Fact]
    public void Wrong_size_is_a_clear_error()
    {
        var e = Assert.Throws<ArgumentException>(() => WeightPacker.Pack(new float[10], 2, 3, 3, 3));
        Assert.Contains("expected Cout·Cin·kH·kW", e.Message);
    }
}
