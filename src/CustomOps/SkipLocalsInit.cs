// Scratch spans from stackalloc (gather lists, correction patterns, packer masks) are always written before they
// are read; zeroing them on every call was measurable in the per-row stages.
[module: System.Runtime.CompilerServices.SkipLocalsInit]
