"""The NaN guard and the divergence policy: non-finite steps are skipped, warned about, and end a run."""

import dataclasses
import os
import signal

import jax
import numpy as np
import pytest
import train_testing
from absl import logging

from mt_music.training import divergence, launch, partitioning, trainer


def test_an_update_that_makes_parameters_non_finite_is_skipped(model):
    """eps = 0: Adam divides 0 by 0 for parameters without gradient; that update must not be applied."""
    mesh = partitioning.make_mesh(partitioning.MeshConfig(1, 1, 1), jax.devices()[:1])
    optimizer = dataclasses.replace(train_testing.TEST_OPTIMIZER, eps=0.0)
    train_lib = trainer.Trainer(model, partitioning.Partitioner(mesh), train_testing.INPUT_SHAPES, optimizer)
    state = train_lib.create_state(0)
    before = jax.tree.map(np.asarray, state.params)
    state, metrics = train_lib.train_step(state, train_testing.global_batch(train_lib, 0))
    assert np.isfinite(float(metrics["loss"])) and bool(metrics["skipped"]) and int(state.skipped_steps) == 1
    assert all(jax.tree.leaves(jax.tree.map(lambda a, b: np.array_equal(a, np.asarray(b)), before, state.params)))


def test_the_guard_warns_for_every_skipped_step_and_stops_after_too_many_in_a_row(monkeypatch):
    warnings = []
    monkeypatch.setattr(logging, "warning", lambda message, *args: warnings.append(message % args))
    guard = divergence.DivergenceGuard(max_consecutive=3, skipped_so_far=0, check_every=4)
    for step, total in enumerate([0, 1, 2, 2], start=1):  # two skipped, then a good step
        guard.record(step, np.int32(total))
    assert len(warnings) == 2 and "step 2 skipped" in warnings[0] and guard.consecutive == 0
    guard.record(5, 3)
    guard.record(6, 4)
    with pytest.raises(divergence.DivergenceError, match="3 steps in a row up to step 7"):
        guard.record(7, 5)
        guard.check()


def test_an_unbounded_guard_only_warns():
    guard = divergence.DivergenceGuard(max_consecutive=None, skipped_so_far=10, check_every=1)
    for step in range(1, 50):
        guard.record(step, 10 + step)
    assert guard.consecutive == 49
    with pytest.raises(ValueError, match="at least 1"):
        divergence.DivergenceGuard(max_consecutive=0, skipped_so_far=0)


def test_ctrl_c_becomes_a_stop_request_and_a_second_one_interrupts():
    previous = signal.getsignal(signal.SIGINT)
    with launch.StopSignal() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.received and stop.should_stop(1)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is previous
