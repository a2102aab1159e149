"""Meshes, rules and shardings; one step agrees on every mesh; a 2-process jax.distributed run."""

import json
import os
import pathlib
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import optax
import pytest
from jax.sharding import PartitionSpec as P
from train_testing import global_batch, make_trainer

from mt_music.errors import UserError
from mt_music.training import partitioning

MESHES = [(1, 1, 1), (8, 1, 1), (2, 2, 2), (1, 1, 8), (2, 1, 4)]
TESTS_DIR = pathlib.Path(__file__).parent
REPO = TESTS_DIR.parent


def test_mesh_shapes_rules_and_shardings():
    mesh = partitioning.make_mesh(partitioning.MeshConfig())
    assert dict(mesh.shape) == {"data": 8, "fsdp": 1, "model": 1}
    assert all(t == jax.sharding.AxisType.Auto for t in mesh.axis_types)
    assert dict(partitioning.make_mesh(partitioning.MeshConfig(data=2, fsdp=-1, model=2)).shape) == {
        "data": 2, "fsdp": 2, "model": 2}
    with pytest.raises(UserError, match="needs 12 devices"):
        partitioning.make_mesh(partitioning.MeshConfig(data=3, fsdp=2, model=2))
    with pytest.raises(UserError, match="at most one"):
        partitioning.make_mesh(partitioning.MeshConfig(data=-1, fsdp=-1))

    rules = dict(partitioning.logical_axis_rules(mesh))
    assert rules["batch"] == ("data", "fsdp") and rules["embed"] is None and rules["heads"] == "model"
    fsdp = partitioning.Partitioner(partitioning.make_mesh(partitioning.MeshConfig(2, 2, 2)))
    assert dict(fsdp.rules)["embed"] == "fsdp"
    assert fsdp.sharding(P("embed", "mlp"), (64, 128)).spec == P("fsdp", "model")
    assert fsdp.sharding(P("heads", "kv"), (3, 16)).spec == P(None, None)  # 3 heads: replicated, not an error
    assert fsdp.sharding(None, (5,)).spec == P(None)
    assert fsdp.data_sharding.spec == P(("data", "fsdp"))
    assert fsdp.data_layout(8) == (0, 1)  # one process feeds every row
    with pytest.raises(UserError, match="not divisible"):
        fsdp.data_layout(6)
    partitioning.initialize_distributed()  # no coordinator: a no-op on one host


@pytest.fixture(scope="module")
def reference():
    """Params, loss and gradients of one batch on a single device."""
    train_lib = make_trainer((1, 1, 1))
    state = train_lib.create_state(seed=0)
    grads, metrics = train_lib.gradients(state.params, global_batch(train_lib, 0))
    return jax.device_get((state.params, float(metrics["loss"]), grads))


@pytest.mark.parametrize("mesh_shape", MESHES[1:])
def test_loss_and_gradients_agree_across_meshes(reference, mesh_shape):
    params0, loss0, grads0 = reference
    train_lib = make_trainer(mesh_shape)
    if mesh_shape == (2, 2, 2):  # the jitted, sharded init gives the same values on any mesh
        params = train_lib.create_state(seed=0).params
        jax.tree.map(np.testing.assert_array_equal, params0, jax.device_get(params))
    else:  # (spare the other meshes an init compile)
        params = jax.device_put(params0, train_lib.state_shardings.params)
    batch = global_batch(train_lib, 0)
    grads, metrics = train_lib.gradients(params, batch)

    query = params["encoder"]["layers_0"]["attention"]["query"]["kernel"]  # [embed, heads=4, kv]
    expected = {(2, 2, 2): P("fsdp", "model", None), (2, 1, 4): P(None, "model", None),
                (1, 1, 8): P(None, None, None), (8, 1, 1): P(None, "model", None)}[mesh_shape]  # 4 heads ∤ 8
    assert query.sharding.spec == expected and grads["encoder"]["layers_0"]["attention"]["query"][
        "kernel"].sharding.spec == expected
    assert batch["encoder_input_tokens"].sharding.spec == P(("data", "fsdp"))
    assert abs(float(metrics["loss"]) - loss0) < 1e-5
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), grads0, jax.device_get(grads))


DISTRIBUTED_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[3])
    from mt_music.training import partitioning
    partitioning.initialize_distributed(sys.argv[1], 2, int(sys.argv[2]))
    import jax
    from train_testing import BATCH, INPUT_SHAPES, TEST_OPTIMIZER, data
    from model_testing import tiny_model
    from mt_music.training import trainer

    mesh = partitioning.make_mesh(partitioning.MeshConfig(data=2, fsdp=1, model=2, dcn_data=2))
    partitioner = partitioning.Partitioner(mesh)
    shard, num_shards = partitioner.data_layout(BATCH)
    train_lib = trainer.Trainer(tiny_model(), partitioner, INPUT_SHAPES, TEST_OPTIMIZER)
    state = train_lib.create_state(seed=0)
    local = data().batch(0, BATCH, shard, num_shards)
    state, metrics = train_lib.train_step(state, train_lib.global_batch(local, BATCH))
    print(json.dumps({"process": jax.process_index(), "devices": jax.device_count(), "shard": [shard, num_shards],
                      "mesh": dict(mesh.shape), "step": int(state.step), "loss": float(metrics["loss"]),
                      "grad_norm": float(metrics["grad_norm"])}))
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_distributed_training_step(reference):
    """Two processes × 4 CPU devices, one hybrid (dcn_data=2) mesh: the same loss as on one device."""
    env = dict(os.environ, JAX_PLATFORMS="cpu",  # (optimisation level 0: compiles faster; numerics are the same)
               XLA_FLAGS="--xla_force_host_platform_device_count=4 --xla_backend_optimization_level=0")
    address = f"127.0.0.1:{_free_port()}"
    procs = [subprocess.Popen([sys.executable, "-c", DISTRIBUTED_SCRIPT, address, str(i), str(TESTS_DIR)],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, err[-3000:]
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            proc.kill()
    _, loss0, grads0 = reference
    for i, report in enumerate(outputs):
        assert report["process"] == i and report["devices"] == 8 and report["step"] == 1
        assert report["mesh"] == {"data": 4, "fsdp": 1, "model": 2} and report["shard"] == [i, 2]
        assert abs(report["loss"] - loss0) < 1e-5
        assert report["grad_norm"] == pytest.approx(float(optax.tree.norm(grads0)), rel=1e-5)
    assert outputs[0]["loss"] == outputs[1]["loss"]
