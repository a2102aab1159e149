"""bf16 parameters with fp32 optimizer state: an fp32 master copy of the weights lives in the optimizer state.

With `network.TransformerConfig.param_dtype = 'bfloat16'` the params (what the step reads, what
checkpoints and exports hold) take half the memory, but bf16 cannot hold small AdamW updates: at a
learning rate of 1e-4 most of them round away. `OptimizerConfig.master_weights = True` wraps the
optimizer so it sees fp32 gradients and updates an fp32 copy (moments in fp32 too); the params are
that copy rounded to their own dtype after every step.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class MasterWeightsState(NamedTuple):
    master: Any  # fp32 copy of the params
    inner: optax.OptState  # the wrapped optimizer's state, built on the fp32 copy


def _fp32(tree: Any) -> Any:
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), tree)


def with_master_weights(inner: optax.GradientTransformation) -> optax.GradientTransformation:
    """`inner` on an fp32 copy of the params; the updates move each param exactly to its rounded copy."""

    def init(params):
        master = _fp32(params)
        return MasterWeightsState(master, inner.init(master))

    def update(grads, state, params=None):
        if params is None:
            raise ValueError("with_master_weights needs the params in update()")
        updates, inner_state = inner.update(_fp32(grads), state.inner, state.master)
        master = optax.apply_updates(state.master, updates)
        # fp32 difference: params + it, rounded to the params' dtype, is the rounded master (exactly).
        updates = jax.tree.map(lambda m, p: m.astype(p.dtype).astype(jnp.float32) - p.astype(jnp.float32),
                               master, params)
        return updates, MasterWeightsState(master, inner_state)

    return optax.GradientTransformation(init, update)
