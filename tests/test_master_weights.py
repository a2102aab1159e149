"""bf16 params with fp32 optimizer state (`OptimizerConfig.master_weights`): small updates accumulate in the fp32
copy instead of rounding away, and the trainer and checkpoints carry the copy; scanned layers train the same way."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
from model_testing import tiny_model
from train_testing import BATCH, INPUT_SHAPES, TEST_OPTIMIZER, data

from mt_music.training import checkpoints, master_weights, partitioning, trainer


def test_small_updates_accumulate_in_the_fp32_copy():
    """SGD steps of 1e-4 on a bf16 weight of 1.0 (bf16's spacing there is 2^-7): alone they round away."""
    params = {"w": jnp.ones(3, jnp.bfloat16)}
    grads = {"w": jnp.ones(3, jnp.bfloat16)}
    for tx, expected in ((optax.sgd(1e-4), 1.0), (master_weights.with_master_weights(optax.sgd(1e-4)), 0.99)):
        state, p = tx.init(params), params
        for _ in range(100):
            updates, state = tx.update(grads, state, p)
            p = optax.apply_updates(p, updates)
        assert p["w"].dtype == jnp.bfloat16
        np.testing.assert_allclose(np.asarray(p["w"], np.float32), expected, atol=2e-3)
    assert state.master["w"].dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(state.master["w"]), 0.99, rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(p["w"]), np.asarray(state.master["w"].astype(jnp.bfloat16)))


def test_trainer_with_bf16_params_and_fp32_state_resumes_exactly(tmp_path):
    """Scanned bf16 model: the state holds bf16 params and an fp32 copy with fp32 moments; the loss falls, and a
    checkpoint restores the copy bit for bit."""
    model = tiny_model(param_dtype="bfloat16", scan_layers=True)  # fp32 compute: CPU bf16 matmuls compile slowly
    mesh = partitioning.make_mesh(partitioning.MeshConfig(1, 1, 1), jax.devices()[:1])
    optimizer = dataclasses.replace(TEST_OPTIMIZER, master_weights=True)
    train_lib = trainer.Trainer(model, partitioning.Partitioner(mesh), INPUT_SHAPES, optimizer)
    state = train_lib.create_state(0)
    assert {x.dtype for x in jax.tree.leaves(state.params)} == {jnp.dtype(jnp.bfloat16)}
    assert {x.dtype for x in jax.tree.leaves(state.opt_state.master)} == {jnp.dtype(jnp.float32)}
    batch = train_lib.global_batch(data().batch(0, BATCH), BATCH)
    losses = []
    for _ in range(12):
        state, metrics = train_lib.train_step(state, batch)
        losses.append(float(metrics["loss"]))
    assert losses[-1] < 0.9 * losses[0] and int(state.skipped_steps) == 0, losses
    for param, copy in zip(jax.tree.leaves(state.params), jax.tree.leaves(state.opt_state.master)):
        np.testing.assert_array_equal(np.asarray(param), np.asarray(copy.astype(jnp.bfloat16)))

    checkpointer = checkpoints.Checkpointer(tmp_path / "checkpoints", async_save=False)
    checkpointer.save(state, 12, force=True)
    restored = checkpointer.restore(train_lib.abstract_state, 12)
    checkpointer.close()
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
