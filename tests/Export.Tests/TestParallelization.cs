// TorchSharp's default generator (manual_seed, parameter initialisation) is one global state: test
// classes running in parallel interleave their draws, so "seeded" weights would depend on scheduling.
// With weights that vary run to run, an activation can land within float rounding of its threshold τ
// and flip a binary sign between TorchSharp and ONNX Runtime (their float paths round differently
// before the sign; docs/export.md), which a parity bound of 1e-4 then reports. Run one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
