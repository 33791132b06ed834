using System.Globalization;

namespace BiVM.Cli.Matting;

/// <summary>
/// A frame rate as FFmpeg states it, numerator over denominator: 24000/1001 stays 24000/1001, where a double
/// (OpenCV's) would round it, and an encoder given the double writes 24 fps or a drifting time base.
/// </summary>
internal readonly record struct Rational(long Numerator, long Denominator)
{
    /// <summary>The value as a double, for arithmetic that needs no exactness (progress, reports).</summary>
    public double Value => (double)Numerator / Denominator;

    /// <summary>Seconds taken by <paramref name="frames"/> frames at this rate, exactly as FFmpeg computes it.</summary>
    public double Seconds(long frames) => (double)(frames * Denominator) / Numerator;

    /// <summary>Parses "24000/1001" or "25"; false for "0/0" (FFmpeg's "unknown") and anything else.</summary>
    public static bool TryParse(string? text, out Rational rate)
    {
        rate = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var parts = text.Trim().Split('/');
        if (parts.Length is < 1 or > 2) return false;
        if (!long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long num)) return false;
        long den = 1;
        if (parts.Length == 2 && !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out den)) return false;
        if (num <= 0 || den <= 0) return false;
        long g = (long)System.Numerics.BigInteger.GreatestCommonDivisor(num, den);
        rate = new Rational(num / g, den / g);
        return true;
    }

    /// <summary>The nearest rational for a rate known only as a double (OpenCV's camera rate): NTSC rates are recognised.</summary>
    public static Rational FromDouble(double fps)
    {
        foreach (long n in new long[] { 24000, 30000, 48000, 60000 })
            if (Math.Abs(fps - n / 1001.0) < 1e-3) return new Rational(n, 1001);
        if (Math.Abs(fps - Math.Round(fps)) < 1e-3) return new Rational((long)Math.Round(fps), 1);
        return new Rational((long)Math.Round(fps * 1000), 1000);
    }

    public override string ToString() => Denominator == 1
        ? Numerator.ToString(CultureInfo.InvariantCulture)
        : string.Create(CultureInfo.InvariantCulture, $"{Numerator}/{Denominator}");
}
