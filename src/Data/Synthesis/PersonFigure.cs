using OpenCvSharp;

namespace BiVM.Data.Synthesis;

/// <summary>Which texture a foreground pixel takes (the label map's values).</summary>
internal enum BodyPart : byte
{
    None = 0,
    Bottom = 1,
    Top = 2,
    Skin = 3,
    Hair = 4,
}

/// <summary>How the figure moves: walking (side view), waving or gesturing while talking (front view).</summary>
public enum Gesture
{
    Walk,
    Wave,
    Talk,
}

/// <summary>
/// An articulated, person-like figure: head, torso, two-segment arms and legs as capsules and
/// ellipses, posed per frame by a gait or gesture cycle. All lengths are fractions of the figure
/// height; the pose at frame t is a pure function of t (no state), so frames can be drawn in any order.
/// </summary>
internal sealed class PersonFigure
{
    private const int Shift = 4; // sub-pixel bits for OpenCV's drawing functions
    private const double Sub = 1 << Shift;

    private readonly Gesture _gesture;
    private readonly double _height, _groundX, _groundY, _facing, _omega, _phase, _drift;
    private readonly double _head, _neck, _torso, _shoulder, _hip, _upperArm, _foreArm, _thigh, _shin;
    private readonly double _armWidth, _legWidth, _waist, _swing, _lean, _bothArms, _skirt;

    public PersonFigure(SeededRandom rng, int canvasWidth, int canvasHeight)
    {
        _gesture = (Gesture)rng.NextInt(3);
        bool upperBody = rng.Chance(0.35); // framed from the hips up, as in most matting footage
        _height = canvasHeight * (upperBody ? rng.Uniform(1.3, 1.9) : rng.Uniform(0.6, 0.95));
        _groundX = canvasWidth * rng.Uniform(0.3, 0.7);
        // Upper body: the top of the head 5–25 % below the frame's top edge, hips near the bottom edge.
        _groundY = upperBody ? canvasHeight * rng.Uniform(0.05, 0.25) + _height : canvasHeight * rng.Uniform(0.92, 1.0);
        _facing = rng.Chance(0.5) ? 1 : -1;
        _omega = rng.Uniform(0.25, 0.6); // radians per frame of the gait/gesture cycle
        _phase = rng.Uniform(0, 2 * Math.PI);
        _drift = _gesture == Gesture.Walk ? _facing * canvasWidth * rng.Uniform(0, 0.012) : 0;

        _head = rng.Uniform(0.055, 0.07);
        _neck = rng.Uniform(0.025, 0.04);
        _torso = rng.Uniform(0.27, 0.32);
        _shoulder = rng.Uniform(0.09, 0.13);
        _hip = rng.Uniform(0.06, 0.09);
        _waist = rng.Uniform(0.055, 0.08);
        _upperArm = rng.Uniform(0.15, 0.18);
        _foreArm = rng.Uniform(0.14, 0.17);
        _thigh = rng.Uniform(0.22, 0.26);
        _shin = rng.Uniform(0.22, 0.25);
        _armWidth = rng.Uniform(0.035, 0.055);
        _legWidth = rng.Uniform(0.05, 0.075);
        _swing = rng.Uniform(0.25, 0.5);
        _lean = rng.Uniform(-0.06, 0.06);
        _bothArms = rng.Chance(0.3) ? 1 : 0;
        _skirt = rng.Chance(0.2) ? rng.Uniform(0.08, 0.13) : 0;
    }

    public Gesture Gesture => _gesture;

    /// <summary>Head centre, radius and tilt (radians) at frame t, in canvas pixels.</summary>
    public (double X, double Y, double Radius, double Tilt) Head(int t)
    {
        var p = Pose(t);
        return (p.HeadX, p.HeadY, _head * _height, p.Tilt);
    }

    /// <summary>
    /// Draws frame t: 255 into <paramref name="mask"/> where the body is (hard edge), and each part's
    /// <see cref="BodyPart"/> value into <paramref name="labels"/>. Both CV_8UC1, canvas-sized, cleared by the caller.
    /// </summary>
    public void Draw(int t, Mat mask, Mat labels)
    {
        var p = Pose(t);
        double h = _height;
        bool side = _gesture == Gesture.Walk;
        double across = side ? 0.25 : 1; // shoulder/hip spread: narrow in side view
        double ux = Math.Sin(p.Lean), uy = -Math.Cos(p.Lean); // up along the spine
        double rx = -uy, ry = ux;                              // to the figure's right

        var hip = (X: p.HipX, Y: p.HipY);
        var neck = (X: hip.X + ux * _torso * h, Y: hip.Y + uy * _torso * h);
        var lShoulder = (X: neck.X - rx * _shoulder * h * across, Y: neck.Y - ry * _shoulder * h * across + 0.02 * h);
        var rShoulder = (X: neck.X + rx * _shoulder * h * across, Y: neck.Y + ry * _shoulder * h * across + 0.02 * h);
        var lHip = (X: hip.X - rx * _hip * h * across, Y: hip.Y - ry * _hip * h * across);
        var rHip = (X: hip.X + rx * _hip * h * across, Y: hip.Y + ry * _hip * h * across);

        // Back limbs first, then torso, front limbs and head: later parts overwrite earlier labels.
        Leg(mask, labels, lHip, p.LeftThigh, p.LeftKnee);
        Arm(mask, labels, lShoulder, p.LeftUpperArm, p.LeftElbow, back: true);
        Leg(mask, labels, rHip, p.RightThigh, p.RightKnee);

        var waistL = (X: hip.X - rx * _waist * h * across * 1.1 + ux * 0.12 * h, Y: hip.Y - ry * _waist * h * across * 1.1 + uy * 0.12 * h);
        var waistR = (X: hip.X + rx * _waist * h * across * 1.1 + ux * 0.12 * h, Y: hip.Y + ry * _waist * h * across * 1.1 + uy * 0.12 * h);
        double chest = Math.Max(_shoulder * across, side ? 0.07 : 0) * h;
        Polygon(mask, labels, BodyPart.Top,
            (neck.X - rx * chest, neck.Y - ry * chest + 0.01 * h), (neck.X + rx * chest, neck.Y + ry * chest + 0.01 * h),
            waistR, (rHip.X + rx * 0.02 * h, rHip.Y), (lHip.X - rx * 0.02 * h, lHip.Y), waistL);
        Capsule(mask, labels, BodyPart.Top, lShoulder, rShoulder, _armWidth * h * 1.3);
        if (_skirt > 0)
            Polygon(mask, labels, BodyPart.Bottom, (lHip.X - rx * 0.01 * h, lHip.Y - 0.02 * h), (rHip.X + rx * 0.01 * h, rHip.Y - 0.02 * h),
                (rHip.X + rx * (_skirt * h * across + 0.03 * h), rHip.Y + 0.2 * h), (lHip.X - rx * (_skirt * h * across + 0.03 * h), lHip.Y + 0.2 * h));
        Arm(mask, labels, rShoulder, p.RightUpperArm, p.RightElbow, back: false);

        var neckTop = (X: neck.X + ux * _neck * h, Y: neck.Y + uy * _neck * h);
        Capsule(mask, labels, BodyPart.Skin, neck, neckTop, _head * h * 0.8);
        EllipseAt(mask, labels, BodyPart.Skin, p.HeadX, p.HeadY, _head * h * 0.86, _head * h * 1.05, p.Tilt);
    }

    private void Arm(Mat mask, Mat labels, (double X, double Y) shoulder, double upper, double elbow, bool back)
    {
        double h = _height, w = _armWidth * h * (back ? 0.95 : 1);
        var e = (X: shoulder.X + Math.Sin(upper) * _upperArm * h, Y: shoulder.Y + Math.Cos(upper) * _upperArm * h);
        double fore = upper + elbow;
        var wrist = (X: e.X + Math.Sin(fore) * _foreArm * h, Y: e.Y + Math.Cos(fore) * _foreArm * h);
        Capsule(mask, labels, BodyPart.Top, shoulder, e, w * 1.1);
        Capsule(mask, labels, BodyPart.Skin, e, wrist, w * 0.85);
        EllipseAt(mask, labels, BodyPart.Skin, wrist.X + Math.Sin(fore) * w * 0.6, wrist.Y + Math.Cos(fore) * w * 0.6, w * 0.55, w * 0.8, -fore);
    }

    private void Leg(Mat mask, Mat labels, (double X, double Y) hip, double thigh, double knee)
    {
        double h = _height, w = _legWidth * h;
        var k = (X: hip.X + Math.Sin(thigh) * _thigh * h, Y: hip.Y + Math.Cos(thigh) * _thigh * h);
        double shin = thigh - _facing * knee;
        var ankle = (X: k.X + Math.Sin(shin) * _shin * h, Y: k.Y + Math.Cos(shin) * _shin * h);
        Capsule(mask, labels, BodyPart.Bottom, hip, k, w);
        Capsule(mask, labels, BodyPart.Bottom, k, ankle, w * 0.8);
        var toe = (X: ankle.X + _facing * 0.06 * h, Y: ankle.Y + 0.01 * h);
        Capsule(mask, labels, BodyPart.Bottom, ankle, toe, w * 0.6);
    }

    private readonly record struct Posture(double HipX, double HipY, double Lean, double HeadX, double HeadY, double Tilt,
        double LeftThigh, double LeftKnee, double RightThigh, double RightKnee,
        double LeftUpperArm, double LeftElbow, double RightUpperArm, double RightElbow);

    private Posture Pose(int t)
    {
        double h = _height, phi = _phase + _omega * t, s = Math.Sin(phi), c = Math.Cos(phi);
        double legLength = (_thigh + _shin) * h;
        double hipX = _groundX + _drift * t, hipY = _groundY - legLength * 0.98;
        double lean = _lean, tilt = 0.08 * Math.Sin(phi * 0.5 + 1);
        double lt, lk, rt, rk, lu, le, ru, re;
        switch (_gesture)
        {
            case Gesture.Walk:
                hipY += 0.02 * h * Math.Abs(c); // body bob: lowest at mid-stance
                lt = _facing * _swing * s; rt = -lt;
                lk = 0.6 * Math.Max(0, -c) + 0.08; rk = 0.6 * Math.Max(0, c) + 0.08;
                lu = -0.8 * lt; ru = -0.8 * rt;
                le = _facing * 0.3; re = _facing * 0.3; // forearms bend forward
                lean += _facing * 0.05;
                break;
            case Gesture.Wave:
                lt = -0.07; rt = 0.07; lk = 0.02; rk = 0.02;
                ru = 2.3 + 0.15 * s;            // raised to the side, forearm waving above it
                re = 0.9 + 0.5 * Math.Sin(phi * 1.7);
                lu = _bothArms > 0 ? -ru : -(0.15 + 0.05 * s);
                le = _bothArms > 0 ? -re : -0.1;
                lean += 0.03 * s;
                break;
            default: // Talk: small sway, forearms gesturing in front of the body
                lt = -0.05; rt = 0.05 + 0.03 * s; lk = 0.03; rk = 0.03;
                lu = -(0.2 + 0.15 * Math.Sin(phi * 0.7)); le = 1.4 + 0.4 * s;   // forearms across the body
                ru = 0.2 + 0.15 * c; re = -(1.3 + 0.4 * Math.Sin(phi * 1.3));
                lean += 0.04 * Math.Sin(phi * 0.5);
                tilt *= 1.5;
                break;
        }
        double ux = Math.Sin(lean), uy = -Math.Cos(lean);
        double headDistance = (_torso + _neck) * h + _head * h * 1.05;
        return new Posture(hipX, hipY, lean, hipX + ux * headDistance, hipY + uy * headDistance, tilt, lt, lk, rt, rk, lu, le, ru, re);
    }

    private static Point P(double x, double y) => new((int)Math.Round(x * Sub), (int)Math.Round(y * Sub));

    private static void Capsule(Mat mask, Mat labels, BodyPart part, (double X, double Y) a, (double X, double Y) b, double width)
    {
        int thickness = Math.Max(1, (int)Math.Round(width));
        Cv2.Line(mask, P(a.X, a.Y), P(b.X, b.Y), Scalar.All(255), thickness, LineTypes.Link8, Shift);
        Cv2.Line(labels, P(a.X, a.Y), P(b.X, b.Y), Scalar.All((int)part), thickness, LineTypes.Link8, Shift);
    }

    private static void EllipseAt(Mat mask, Mat labels, BodyPart part, double x, double y, double rx, double ry, double angle)
    {
        var axes = new Size(Math.Max(1, (int)Math.Round(rx * Sub)), Math.Max(1, (int)Math.Round(ry * Sub)));
        double degrees = angle * 180 / Math.PI;
        Cv2.Ellipse(mask, P(x, y), axes, degrees, 0, 360, Scalar.All(255), -1, LineTypes.Link8, Shift);
        Cv2.Ellipse(labels, P(x, y), axes, degrees, 0, 360, Scalar.All((int)part), -1, LineTypes.Link8, Shift);
    }

    private static void Polygon(Mat mask, Mat labels, BodyPart part, params (double X, double Y)[] points)
    {
        var pts = points.Select(p => P(p.X, p.Y)).ToArray();
        Cv2.FillPoly(mask, [pts], Scalar.All(255), LineTypes.Link8, Shift);
        Cv2.FillPoly(labels, [pts], Scalar.All((int)part), LineTypes.Link8, Shift);
    }
}
