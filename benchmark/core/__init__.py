"""The base layer: what methods/ and models/ may use of the harness (registry, config ranges, features,
batches, the training loop, progress). It imports nothing else of benchmark/."""
