namespace BiVM.Graph;

/// <summary>One dimension of a graph input/output shape: a number, or a symbolic name such as "H" (dynamic).</summary>
public readonly record struct Dim(long Value, string? Param)
{
    public static implicit operator Dim(long value) => new(value, null);
    public static implicit operator Dim(int value) => new(value, null);
    public static implicit operator Dim(string param) => new(0, param);

    public bool IsSymbolic => Param is not null;

    public override string ToString() => Param ?? Value.ToString();
}
