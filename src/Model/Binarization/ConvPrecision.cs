namespace BiVM.Model.Binarization;

/// <summary>Whether a convolution runs in 32-bit floats or as a 1-bit <see cref="BinaryConv2d"/>.</summary>
public enum ConvPrecision
{
    Full,
    Binary,
}
