namespace BiVM.Export.Tests;

/// <summary>Max |a − b| per output over a sequence, and the worst frame.</summary>
internal sealed class Parity
{
    private readonly Dictionary<string, (double Max, int Frame)> _worst = new();

    public void Add(int frame, FrameResult a, FrameResult b, IEnumerable<string> names)
    {
        foreach (var name in names)
        {
            Assert.Equal(a.Shapes[name], b.Shapes[name]);
            var (x, y) = (a[name], b[name]);
            double max = 0;
            for (int i = 0; i < x.Length; i++)
            {
                double d = Math.Abs((double)x[i] - y[i]);
                if (double.IsNaN(d)) d = double.PositiveInfinity;
                if (d > max) max = d;
            }
            if (!_worst.TryGetValue(name, out var w) || max > w.Max) _worst[name] = (max, frame);
        }
    }

    public double Max(string name) => _worst[name].Max;

    public override string ToString() => string.Join(", ", _worst.Select(kv => $"{kv.Key} {kv.Value.Max:E2} (frame {kv.Value.Frame})"));
}
