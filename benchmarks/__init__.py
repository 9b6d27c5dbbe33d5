"""lossapi's benchmark suite: each loss against its native peer (torch,
optax, scikit-learn) in the same process. ``python -m benchmarks --help``."""
