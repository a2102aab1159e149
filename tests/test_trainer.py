"""The trainer: published schedule, weight-decay mask, overfitting, microbatches, NaN guard, metrics."""

import types

import flax.linen as nn
import jax
import numpy as np
import pytest
from model_testing import mixed_batch, tiny_model
from train_testing import BATCH, data, global_batch, make_trainer

from mt_music.model import decoding, flops
from mt_music.training import trainer


def test_published_optimizer_and_schedule():
    config = trainer.OptimizerConfig()
    assert (config.learning_rate, config.b1, config.b2, config.eps, config.weight_decay, config.clip_norm) == (
        1e-4, 0.9, 0.95, 1e-8, 0.01, 1.0)
    schedule = trainer.learning_rate_schedule(config)
    lr = lambda step: float(schedule(step))  # noqa: E731
    assert lr(0) == 0.0 and lr(1000) == pytest.approx(5e-5) and lr(2000) == pytest.approx(1e-4)
    assert lr(241_000) == pytest.approx(5.5e-5, rel=1e-3)  # half-way down the cosine
    assert lr(480_000) == pytest.approx(1e-5) and lr(600_000) == pytest.approx(1e-5) == lr(10**7)
    values = [lr(s) for s in range(2000, 480_001, 20_000)]
    assert all(a > b for a, b in zip(values, values[1:]))


def test_weight_decay_mask_decays_only_matmul_kernels():
    model = tiny_model()
    shapes = {"encoder_input_tokens": (1, 8, 4), "decoder_input_tokens": (1, 8, 4)}
    params = nn.meta.unbox(jax.eval_shape(lambda: model.get_initial_variables(jax.random.key(0), shapes)))["params"]
    mask = trainer.weight_decay_mask(params)
    flat = {"/".join(k.key for k in path): bool(v) for path, v in jax.tree_util.tree_leaves_with_path(mask)}
    decayed = {name for name, v in flat.items() if v}
    assert "encoder/layers_0/attention/query/kernel" in decayed and "sub_decoder/logits_kernel" in decayed
    assert "decoder/layers_1/mlp/wo/kernel" in decayed
    for name in ("token_embedder/embedding", "position_embedder/embedding", "modality_embedder/embedding",
                 "sub_decoder/slot_embedding", "encoder/encoder_norm/scale", "encoder/encoder_norm/bias"):
        assert not flat[name], name
    assert all(name.endswith("kernel") for name in decayed)


@pytest.fixture(scope="module")
def single_device():
    return make_trainer((1, 1, 1))


def test_overfits_a_fixed_batch(single_device):
    """Through the real train step (clipping, warm-up, AdamW, masks): loss < 0.05 within 200 steps."""
    train_lib = single_device
    state = train_lib.create_state(seed=0)
    batch = global_batch(train_lib, 0)
    losses = []
    for _ in range(200):
        state, metrics = train_lib.train_step(state, batch)
        losses.append(float(metrics["loss"]))
        if losses[-1] < 0.05:
            break
    print(f"overfit: {losses[0]:.3f} → {losses[-1]:.4f} in {len(losses)} steps")
    assert losses[0] > 5.0 and losses[-1] < 0.05
    assert int(state.step) == len(losses) and int(state.skipped_steps) == 0


def test_microbatches_give_the_same_step():
    """Summed over 2 microbatches and normalised once == one pass over the whole batch."""
    whole, split = make_trainer((1, 1, 1)), make_trainer((1, 1, 1), num_microbatches=2)
    state = whole.create_state(seed=0)
    batch = global_batch(whole, 1)
    grads, metrics = whole.gradients(state.params, batch)
    grads2, metrics2 = split.gradients(state.params, batch)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), grads, grads2)
    for name in ("loss", "accuracy", "weight_sum", "accuracy_per_slot", "task_loss_sum"):
        np.testing.assert_allclose(metrics[name], metrics2[name], rtol=1e-5, err_msg=name)


def test_nonfinite_step_is_skipped_and_counted(single_device):
    train_lib = single_device
    state = train_lib.create_state(seed=1)
    batch = global_batch(train_lib, 2)
    bad = data().batch(2, BATCH)
    bad["encoder_input_tokens"][0, 0, 0] = 10**6  # out of the table: the lookup yields NaN, so do loss and grads
    before = jax.device_get(state.params)
    state, metrics = train_lib.train_step(state, train_lib.global_batch(bad, BATCH))
    assert not np.isfinite(float(metrics["loss"]))
    assert bool(metrics["skipped"]) and int(state.skipped_steps) == 1 and int(state.step) == 1
    jax.tree.map(np.testing.assert_array_equal, before, jax.device_get(state.params))
    assert float(metrics["learning_rate"]) == 0.0  # the schedule did not move either
    state, metrics = train_lib.train_step(state, batch)
    assert not bool(metrics["skipped"]) and int(state.skipped_steps) == 1 and int(state.step) == 2
    assert float(metrics["learning_rate"]) == 0.0 and np.isfinite(float(metrics["loss"]))  # first real update
    state, metrics = train_lib.train_step(state, batch)
    assert float(metrics["learning_rate"]) > 0.0
    changed = jax.tree.map(lambda a, b: not np.array_equal(a, b), before, jax.device_get(state.params))
    assert any(jax.tree.leaves(changed))


class ListWriter:
    def __init__(self):
        self.scalars = []

    def write_scalars(self, step, scalars):
        self.scalars.append((step, dict(scalars)))


def test_metrics_reporter_and_peak_flops():
    model = tiny_model()
    writer = ListWriter()
    reporter = trainer.MetricsReporter(writer, model.module.config, batch_size=4, encoder_length=24,
                                       decoder_length=16, num_devices=2, peak_flops=1e12)
    metrics = {"loss": 1.5, "z_loss": 0.01, "accuracy": 0.5, "learning_rate": 1e-4, "grad_norm": 0.3,
               "skipped_steps": 0, "num_tokens": 80, "accuracy_per_slot": np.array([0.5, 1, 1, 1]),
               "task_loss_sum": np.array([3.0, 0, 6.0]), "task_weight_sum": np.array([2.0, 0, 3.0])}
    first = reporter.report(10, metrics)  # no clock yet: no throughput
    assert "perf/step_time_s" not in first and first["train/task/task0/loss"] == 1.5
    assert "train/task/task1/loss" not in first
    reporter.start(10)
    scalars = reporter.report(14, metrics)
    step_time = scalars["perf/step_time_s"]
    assert scalars["perf/tokens_per_s"] == pytest.approx(4 * 40 / step_time)
    step_flops = flops.train_step_flops(model.module.config, 4, 24, 16)
    assert scalars["perf/mfu"] == pytest.approx(step_flops / step_time / 2e12)
    assert scalars["train/accuracy_slot0"] == 0.5 and writer.scalars[-1] == (14, scalars)
    assert "loss 1.5000" in trainer.format_scalars(scalars) and "MFU" in trainer.format_scalars(scalars)

    named = trainer.MetricsReporter(ListWriter(), model.module.config, batch_size=4, encoder_length=24,
                                    decoder_length=16, num_devices=1, task_names=["image2lmx", "lmx2image", "x"],
                                    task_weights=lambda step: {"image2lmx": 1.0 - step / 100, "x": step / 100})
    for step, (lmx_loss, x_loss) in enumerate([(9.0, 4.0), (7.0, 2.0), (5.0, 1.0), (3.0, 1.0)]):
        scalars = named.report(step, {**metrics, "task_loss_sum": np.array([lmx_loss, 0, x_loss]),
                                      "task_weight_sum": np.array([1.0, 0, 1.0])})
    assert scalars["train/task/image2lmx/loss"] == 3.0 and scalars["train/task/x/weight"] == 0.03
    assert "train/task/lmx2image/loss" not in scalars
    table = named.summary(reports=2).splitlines()
    assert table[1].split()[:4] == ["image2lmx", "8.000", "(0-1)", "4.000"]  # mean of the first / last two
    assert table[2].split()[0] == "x" and len(table) == 3

    # accumulated over every step since the last report, weighted by each step's target weights
    for loss_sum, weight_sum in ((4.0, 1.0), (0.0, 0.0), (2.0, 3.0)):
        named.accumulate({"task_loss_sum": np.array([loss_sum, 0, 0]), "task_weight_sum": np.array([weight_sum, 0, 0])})
    scalars = named.report(7, {**metrics, "task_loss_sum": np.array([9.0, 0, 0]), "task_weight_sum": np.array([1.0, 0, 0])})
    assert scalars["train/task/image2lmx/loss"] == 1.5  # (4 + 2) / (1 + 3), not the reported step's 9
    scalars = named.report(8, {**metrics, "task_loss_sum": np.array([9.0, 0, 0]), "task_weight_sum": np.array([1.0, 0, 0])})
    assert scalars["train/task/image2lmx/loss"] == 9.0  # nothing accumulated since: that step's own

    device = lambda kind: types.SimpleNamespace(device_kind=kind)  # noqa: E731
    assert trainer.peak_flops_per_device(device("NVIDIA H100 80GB HBM3")) == flops.PEAK_BF16_FLOPS["h100"]
    assert trainer.peak_flops_per_device(device("TPU v5 lite")) == flops.PEAK_BF16_FLOPS["tpu_v5e"]
    assert trainer.peak_flops_per_device(device("cpu")) is None
    assert trainer.peak_flops_per_device(device("cpu"), override=2e11) == 2e11


def test_model_batches_with_task_ids_train(single_device):
    """The model tests' mixed real-looking batch (all four modalities) runs through the step too."""
    batch = mixed_batch(encoder_length=24, decoder_length=24)
    batch = {name: np.concatenate([value, value]) for name, value in batch.items()}  # 8 rows
    state = single_device.create_state(seed=2)
    state, metrics = single_device.train_step(state, single_device.global_batch(batch, BATCH))
    assert np.isfinite(float(metrics["loss"])) and metrics["task_num_examples"][:4].tolist() == [2, 2, 2, 2]


def test_synthetic_batches_are_deterministic_sharded_and_follow_the_contract():
    task = data()
    whole = task.batch(7, 8)
    assert whole["encoder_input_tokens"].shape == (8, 24, 4) and whole["decoder_positions"].shape == (8, 24, 2)
    second_half = task.batch(7, 8, shard_index=1, num_shards=2)  # what host 1 of 2 builds
    for name, value in whole.items():
        np.testing.assert_array_equal(value[4:], second_half[name])
        np.testing.assert_array_equal(value, data().batch(7, 8)[name])
    assert not np.array_equal(whole["encoder_input_tokens"], task.batch(8, 8)["encoder_input_tokens"])
    # Decoder positions are what decoding's own cursor gives the targets (image heights, columns, SEP).
    tables = tiny_model().tables
    batch = task.batch(3, 32)
    assert set(batch["decoder_modality"].tolist()) == {0, 1, 2, 3}
    positions = np.asarray(decoding.decoder_positions(batch["decoder_target_tokens"], batch["decoder_modality"],
                                                      tables))
    valid = batch["decoder_target_tokens"][..., 0] != 0
    np.testing.assert_array_equal(positions[valid], batch["decoder_positions"][valid])
    shifted = batch["decoder_input_tokens"][:, 1:]
    np.testing.assert_array_equal(shifted[valid[:, 1:]], batch["decoder_target_tokens"][:, :-1][valid[:, 1:]])
