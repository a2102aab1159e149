"""The training state: a plain pytree of arrays, so it shards, donates and checkpoints as one.

The optimizer (an optax transformation) is not part of it: it is code, rebuilt
from the config, while its state (`opt_state`) is data. `rng` is a raw uint32
key that the train step splits every step, so a restored run draws the same
dropout masks as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
    step: jax.Array  # int32 scalar: train steps taken (skipped ones included)
    params: Any
    opt_state: optax.OptState
    rng: jax.Array  # uint32 [2]
    skipped_steps: jax.Array  # int32 scalar: steps whose update was dropped (non-finite gradients)

    @classmethod
    def create(cls, params: Any, tx: optax.GradientTransformation, rng: jax.Array) -> TrainState:
        """Works on boxed (logically partitioned) params too: the optimizer state inherits the boxes."""
        return cls(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params), rng=rng,
                   skipped_steps=jnp.zeros((), jnp.int32))

    @property
    def updates_applied(self) -> jax.Array:
        """The optimizer's own step count (what the learning-rate schedule sees)."""
        return self.step - self.skipped_steps
