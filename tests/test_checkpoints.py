"""Checkpoints: periodic/keep-N/forced saves, integrity and fallback, exact resume, restore onto a different mesh."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P
from train_testing import global_batch, make_trainer

from mt_music.training import checkpoints
from mt_music.training.train_state import TrainState


def _small_state(step: int) -> TrainState:
    return TrainState(step=jnp.array(step, jnp.int32), params={"w": jnp.arange(4.0) * step},
                      opt_state=(jnp.zeros(2),), rng=jax.random.PRNGKey(step), skipped_steps=jnp.array(0, jnp.int32))


def test_periodic_saves_keep_the_last_n_and_forced_saves(tmp_path):
    checkpointer = checkpoints.Checkpointer(tmp_path, save_every=2, keep=2, async_save=True)
    saved = [step for step in range(1, 8) if checkpointer.save(_small_state(step), step)]
    assert saved[-3:] == [2, 4, 6] and set(saved) <= {1, 2, 4, 6}  # orbax also saves the very first step
    assert checkpointer.save(_small_state(7), 7, force=True)
    assert not checkpointer.save(_small_state(7), 7, force=True)  # already there: no error, no second save
    checkpointer.close()
    assert checkpointer.all_steps() == [6, 7]

    reopened = checkpoints.Checkpointer(tmp_path, save_every=2, keep=2)
    assert reopened.latest_step() == 7
    target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), _small_state(0))
    restored = reopened.restore(target)
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(restored), jax.device_get(_small_state(7)))
    assert np.asarray(reopened.restore(target, step=6).params["w"]).tolist() == [0, 6, 12, 18]
    reopened.close()


def _target():
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), _small_state(0))


def _largest_file(step_dir):
    return max((p for p in step_dir.rglob("*") if p.is_file() and p.name != checkpoints.CHECKSUMS),
               key=lambda p: p.stat().st_size)


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "unsealed_truncate"])
def test_a_damaged_newest_step_is_reported_set_aside_and_the_previous_one_restored(tmp_path, damage, capsys):
    checkpointer = checkpoints.Checkpointer(tmp_path / "checkpoints", save_every=1, keep=3, async_save=False)
    for step in (1, 2):
        checkpointer.save(_small_state(step), step, force=True)
    checkpointer.close()
    step_dir = tmp_path / "checkpoints" / "2"
    victim = _largest_file(step_dir)
    if damage == "flip":  # same size, other bytes: only the checksum can tell
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0xFF
        victim.write_bytes(bytes(data))
    elif damage == "delete":
        victim.unlink()
    else:
        victim.write_bytes(victim.read_bytes()[:10])
    if damage.startswith("unsealed"):  # killed before the checksums were written: the restore itself must fail
        (step_dir / checkpoints.CHECKSUMS).unlink()

    reopened = checkpoints.Checkpointer(tmp_path / "checkpoints", save_every=1, keep=3)
    state, step = reopened.restore_newest_good(_target())
    assert step == 1 and np.asarray(state.params["w"]).tolist() == [0, 1, 2, 3]
    assert "checkpoint step 2" in capsys.readouterr().err
    assert reopened.all_steps() == [1] and (tmp_path / checkpoints.DAMAGED / "2").is_dir()
    assert reopened.save(_small_state(2), 2, force=True)  # the step can be saved again
    reopened.close()
    assert reopened.verify(2) is None and reopened.all_steps() == [1, 2]


def test_no_non_finite_state_is_saved_and_keep_n_spares_the_newest_verified_step(tmp_path):
    checkpointer = checkpoints.Checkpointer(tmp_path, save_every=1, keep=1, async_save=True)
    assert checkpointer.save(_small_state(1), 1, force=True)
    poisoned = _small_state(2).replace(params={"w": jnp.array([0.0, jnp.nan, 1.0, 2.0])})
    assert not checkpointer.save(poisoned, 2, force=True)
    assert checkpointer.save(_small_state(3), 3, force=True)  # async: step 3 is not verified yet...
    assert 1 in checkpointer.all_steps()  # ...so keep=1 must not have deleted step 1
    checkpointer.close()  # now 3 is sealed and 1 may go
    assert checkpointer.all_steps() == [3]


def test_a_checkpoint_of_another_model_is_a_clear_error_not_damage(tmp_path):
    checkpointer = checkpoints.Checkpointer(tmp_path, async_save=False)
    checkpointer.save(_small_state(1), 1, force=True)
    checkpointer.close()
    wider = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
                         _small_state(0).replace(params={"w": jnp.zeros(8)}))
    reopened = checkpoints.Checkpointer(tmp_path)
    with pytest.raises(checkpoints.CheckpointMismatchError, match=r"params.w is of shape \(4,\) there, \(8,\) here"):
        reopened.restore_newest_good(wider)
    assert reopened.all_steps() == [1]  # nothing set aside
    reopened.close()


@pytest.mark.slow
def test_resume_continues_exactly_and_onto_another_mesh(tmp_path):
    """2N straight steps vs N, stop, restore, N more — with dropout on, so the rng must resume too."""
    n = 3
    first = make_trainer((2, 1, 1), dropout_rate=0.1)
    state = first.create_state(seed=0)
    checkpointer = checkpoints.Checkpointer(tmp_path, save_every=n, keep=3)
    straight = []
    for step in range(2 * n):
        state, metrics = first.train_step(state, global_batch(first, step))
        straight.append(float(metrics["loss"]))
        if step + 1 == n:
            at_n = jax.device_get(state)
        checkpointer.save(state, step + 1)
    checkpointer.close()
    assert n in checkpointer.all_steps() and 2 * n in checkpointer.all_steps()

    def resume(train_lib):
        reopened = checkpoints.Checkpointer(tmp_path, save_every=n, keep=3)
        state = reopened.restore(train_lib.abstract_state, step=n)
        reopened.close()
        jax.tree.map(np.testing.assert_array_equal, jax.device_get(state), at_n)  # step, params, opt, rng
        losses = []
        for step in range(n, 2 * n):
            state, metrics = train_lib.train_step(state, global_batch(train_lib, step))
            losses.append(float(metrics["loss"]))
        return state, losses

    _, same_mesh = resume(first)
    assert same_mesh == straight[n:]  # bit-identical

    other = make_trainer((1, 2, 1), dropout_rate=0.1)  # fsdp: params now sharded along embed
    state, other_mesh = resume(other)
    assert state.params["encoder"]["layers_0"]["mlp"]["wi"]["kernel"].sharding.spec == P("fsdp", "model")
    np.testing.assert_allclose(other_mesh, straight[n:], rtol=1e-5)
    print("straight", straight, "resumed on another mesh", other_mesh)
