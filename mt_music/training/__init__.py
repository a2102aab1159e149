"""Partitioned training: JAX/Flax/optax/orbax only — no TensorFlow, no SeqIO (docs/design.md §2, §5).

    partitioning    device meshes, logical axis rules, shardings, multi-host set-up
    train_state     parameters + optimizer state (+ step) as one pytree
    trainer         the optimizer and schedule, the jitted train step (accumulation, NaN guard), metrics
    checkpoints     orbax checkpoints: async save, restore onto any mesh
    metric_writers  metrics.jsonl, logging and (where TensorFlow exists) TensorBoard
    divergence      the policy for skipped (non-finite) steps: warn each, stop after too many in a row
    launch          what every entry point shares: gin + absl flags, run set-up, the loop, signals
    gin_paths       where gin/ lives, in a checkout and in an install
"""
