namespace BiVM.Export;

/// <summary>Decoder result as graph value names: hidden [B,16,h,w] and the next states r1..r4.</summary>
internal sealed record DecodedNames(string Hidden, string[] States);
