using OpenCvSharp;

namespace BiVM.Data.Synthesis;

/// <summary>
/// torchvision's affine parameters (RandomAffine.get_params / F.affine): rotation and shear in
/// degrees, translation in pixels, isotropic scale, all about the image centre.
/// </summary>
public readonly record struct AffineParams(double Angle, double TranslateX, double TranslateY, double Scale, double ShearX, double ShearY)
{
    public static AffineParams Identity => new(0, 0, 0, 1, 0, 0);

    /// <summary>
    /// RandomAffine.get_params(degrees=±maxAngle, translate=(f, f), scale_ranges, shears=±maxShear):
    /// translation rounded to whole pixels, shear along x only (shears given as one pair).
    /// </summary>
    public static AffineParams Random(SeededRandom rng, int width, int height, double maxAngle, double maxTranslate,
        double minScale, double maxScale, double maxShear)
    {
        double angle = rng.Uniform(-maxAngle, maxAngle);
        double tx = Math.Round(rng.Uniform(-maxTranslate * width, maxTranslate * width));
        double ty = Math.Round(rng.Uniform(-maxTranslate * height, maxTranslate * height));
        double scale = rng.Uniform(minScale, maxScale);
        double shear = rng.Uniform(-maxShear, maxShear);
        return new AffineParams(angle, tx, ty, scale, shear, 0);
    }

    public static AffineParams Lerp(AffineParams a, AffineParams b, double w) => new(
        a.Angle + (b.Angle - a.Angle) * w,
        a.TranslateX + (b.TranslateX - a.TranslateX) * w,
        a.TranslateY + (b.TranslateY - a.TranslateY) * w,
        a.Scale + (b.Scale - a.Scale) * w,
        a.ShearX + (b.ShearX - a.ShearX) * w,
        a.ShearY + (b.ShearY - a.ShearY) * w);

    /// <summary>
    /// Forward map as a 2x3 matrix, x' = C + T + RSS·(x − C), with torchvision's
    /// rotation-scale-shear RSS (functional._get_inverse_affine_matrix, inverted).
    /// </summary>
    public Affine2 ToMatrix(double centerX, double centerY)
    {
        double rot = Angle * Math.PI / 180, sx = ShearX * Math.PI / 180, sy = ShearY * Math.PI / 180;
        double a = Math.Cos(rot - sy) / Math.Cos(sy);
        double b = -Math.Cos(rot - sy) * Math.Tan(sx) / Math.Cos(sy) - Math.Sin(rot);
        double c = Math.Sin(rot - sy) / Math.Cos(sy);
        double d = -Math.Sin(rot - sy) * Math.Tan(sx) / Math.Cos(sy) + Math.Cos(rot);
        a *= Scale; b *= Scale; c *= Scale; d *= Scale;
        return new Affine2(a, b, centerX + TranslateX - a * centerX - b * centerY,
                           c, d, centerY + TranslateY - c * centerX - d * centerY);
    }
}

/// <summary>A 2x3 affine map x' = [A B C; D E F]·[x y 1].</summary>
public readonly record struct Affine2(double A, double B, double C, double D, double E, double F)
{
    public static Affine2 Identity => new(1, 0, 0, 0, 1, 0);

    /// <summary>First <paramref name="first"/>, then <paramref name="then"/>.</summary>
    public static Affine2 Compose(Affine2 then, Affine2 first) => new(
        then.A * first.A + then.B * first.D, then.A * first.B + then.B * first.E, then.A * first.C + then.B * first.F + then.C,
        then.D * first.A + then.E * first.D, then.D * first.B + then.E * first.E, then.D * first.C + then.E * first.F + then.F);

    public (double X, double Y) Apply(double x, double y) => (A * x + B * y + C, D * x + E * y + F);

    public Mat ToMat()
    {
        var m = new Mat(2, 3, MatType.CV_64FC1);
        m.Set(0, 0, A); m.Set(0, 1, B); m.Set(0, 2, C);
        m.Set(1, 0, D); m.Set(1, 1, E); m.Set(1, 2, F);
        return m;
    }
}

/// <summary>
/// RVM's motion affine: two random affines A and B blended over the clip by a random easing,
/// frame t using weight easing(t / (T − 1)).
/// </summary>
public sealed class AffineMotion
{
    private readonly AffineParams _from, _to;
    private readonly Func<double, double> _easing;

    private AffineMotion(AffineParams from, AffineParams to, Func<double, double> easing)
    {
        _from = from;
        _to = to;
        _easing = easing;
    }

    /// <summary>No motion: every frame gets the identity.</summary>
    public static AffineMotion None { get; } = new(AffineParams.Identity, AffineParams.Identity, Easing.Linear);

    /// <summary>±10°, ±10 % shift, scale 0.9–1.1, shear ±5° (RVM's _motion_affine).</summary>
    public static AffineMotion Random(SeededRandom rng, int width, int height)
    {
        var a = AffineParams.Random(rng, width, height, 10, 0.1, 0.9, 1.1, 5);
        var b = AffineParams.Random(rng, width, height, 10, 0.1, 0.9, 1.1, 5);
        return new AffineMotion(a, b, Easing.Random(rng));
    }

    public AffineParams At(int t, int frames) =>
        AffineParams.Lerp(_from, _to, frames <= 1 ? 0 : _easing(t / (double)(frames - 1)));
}
