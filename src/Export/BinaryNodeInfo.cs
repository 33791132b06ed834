namespace BiVM.Export;

/// <summary>One binary conv as written: node name, output name, output channels, and whether it is the masked (SHB) op.</summary>
public sealed record BinaryNodeInfo(string Node, string Output, int OutChannels, bool Sparse);
