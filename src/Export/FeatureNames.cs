namespace BiVM.Export;

/// <summary>f1..f4 as graph value names (f4 before LR-ASPP, like EncoderFeatures).</summary>
internal sealed record FeatureNames(string F1, string F2, string F3, string F4);
