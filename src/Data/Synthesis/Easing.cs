namespace BiVM.Data.Synthesis;

/// <summary>
/// RVM's random easing (dataset/augmentation.py, random_easing_fn): 20 % linear, otherwise one of
/// the Penner easings (back, bounce, circular, cubic, exponential, elastic, quad, quartic, quintic,
/// sine; in/out/in-out each) or a step. Maps t in [0, 1] to a blend weight; back and elastic
/// overshoot [0, 1] on purpose, as in the easing_functions package RVM uses.
/// </summary>
public static class Easing
{
    private static readonly Func<double, double>[] Curves =
    [
        BackIn, t => 1 - BackIn(1 - t), InOut(BackIn),
        BounceIn, BounceOut, InOut(BounceIn),
        t => 1 - Math.Sqrt(1 - t * t), t => Math.Sqrt((2 - t) * t), InOut(t => 1 - Math.Sqrt(1 - t * t)),
        Power(3), Out(Power(3)), InOut(Power(3)),
        t => t == 0 ? 0 : Math.Pow(2, 10 * (t - 1)), t => t == 1 ? 1 : 1 - Math.Pow(2, -10 * t), InOut(t => t == 0 ? 0 : Math.Pow(2, 10 * (t - 1))),
        ElasticIn, t => 1 - ElasticIn(1 - t), InOut(ElasticIn),
        Power(2), Out(Power(2)), InOut(Power(2)),
        Power(4), Out(Power(4)), InOut(Power(4)),
        Power(5), Out(Power(5)), InOut(Power(5)),
        t => 1 - Math.Cos(t * Math.PI / 2), t => Math.Sin(t * Math.PI / 2), t => 0.5 * (1 - Math.Cos(Math.PI * t)),
        t => t < 0.5 ? 0 : 1, // RVM's Step: a sudden change
    ];

    public static double Linear(double t) => t;

    /// <summary>Draws an easing as RVM does: linear with probability 0.2, else uniform over the rest.</summary>
    public static Func<double, double> Random(SeededRandom rng) =>
        rng.Chance(0.2) ? Linear : rng.Choose(Curves);

    private static Func<double, double> Power(int p) => t => Math.Pow(t, p);

    private static Func<double, double> Out(Func<double, double> easeIn) => t => 1 - easeIn(1 - t);

    private static Func<double, double> InOut(Func<double, double> easeIn) =>
        t => t < 0.5 ? 0.5 * easeIn(2 * t) : 1 - 0.5 * easeIn(2 - 2 * t);

    private static double BackIn(double t) => t * t * t - t * Math.Sin(t * Math.PI);

    private static double ElasticIn(double t) => Math.Sin(13 * Math.PI / 2 * t) * Math.Pow(2, 10 * (t - 1));

    private static double BounceOut(double t) => t switch
    {
        < 4 / 11.0 => 121 * t * t / 16.0,
        < 8 / 11.0 => 363 / 40.0 * t * t - 99 / 10.0 * t + 17 / 5.0,
        < 9 / 10.0 => 4356 / 361.0 * t * t - 35442 / 1805.0 * t + 16061 / 1805.0,
        _ => 54 / 5.0 * t * t - 513 / 25.0 * t + 268 / 25.0,
    };

    private static double BounceIn(double t) => 1 - BounceOut(1 - t);
}
