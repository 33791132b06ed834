using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;

namespace BiVM.CustomOps.Tests.BinaryConv2d;

/// <summary>
/// The AVX-512 kernel cannot run on a CPU without AVX-512BW, so it is kept correct by construction: it must stay the
/// AVX2 kernel with the register width doubled. This test normalizes both sources (ISA class names, vector widths,
/// lanes per register) and requires them to be identical, so the untestable path cannot drift from the tested one.
/// </summary>
public partial class Avx512MirrorTests
{
    private static string SourceDir([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "..", "src", "CustomOps", "BinaryConv2d"));

    private static string Normalize(string source, string isaPattern, string width, string lanes, string bytes)
    {
        source = Regex.Replace(source, isaPattern, "ISA");
        source = source.Replace($"Vector{width}", "VectorN").Replace($"LoadVector{width}", "LoadVectorN");
        source = Regex.Replace(source, $@"\* {lanes}\b", "* LANES").Replace($"PixelBlock => {lanes}", "PixelBlock => LANES");
        source = source.Replace($"of {bytes} bytes", "of N bytes");
        // Lines that name the ISA on purpose: the summary, the kernel name and the LUT construction.
        return string.Join('\n', source.Split('\n').Where(l => !l.Contains("/// AVX") && !l.Contains("Name =>") && !l.Contains("var lut") && !l.Contains("Structurally identical")));
    }

    [Fact]
    public void Avx512_kernel_is_the_avx2_kernel_at_twice_the_width()
    {
        var avx2 = Normalize(File.ReadAllText(Path.Combine(SourceDir(), "Avx2Kernel.cs")), @"\bAvx2Kernel\b|\bAvx2\b|\bAvx\b", "256", "4", "32");
        var avx512 = Normalize(File.ReadAllText(Path.Combine(SourceDir(), "Avx512Kernel.cs")), @"\bAvx512Kernel\b|\bAvx512BW\b|\bAvx512F\b", "512", "8", "64");
        Assert.Equal(avx2, avx512);
    }
}
