// TorchSharp's default generator (manual_seed, rand, parameter initialisation) is one global state:
// test classes running in parallel would interleave their draws, and seeded tests (bit-identical
// resume, checkpoint round trips) would depend on scheduling. Run this assembly's tests one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
