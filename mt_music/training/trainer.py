"""Optimizer, the jitted train step and training metrics (T5X `trainer` + `optimizers`, slim).

One train step: split the global batch into microbatches, scan over them summing
the loss SUM, its gradient and every additive metric, then normalise once by the
total loss weight — so the gradient is the same for any number of microbatches.
Then clip-by-global-norm + AdamW. A step whose loss, gradient or new parameters are not finite
keeps params and optimizer state (the step counter still advances, so the data
moves on) and is counted in `skipped_steps`.

Weight decay applies to matmul kernels only (every `kernel` and the output
`logits_kernel`): not to LayerNorm scales/biases, and not to any embedding
table (token, position, modality, sub-decoder slot) — token rows of rare codes
would otherwise shrink without gradient signal, and codec-initialised rows would
drift from their codebooks.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from mt_music.errors import UserError
from mt_music.model import flops, models
from mt_music.training import master_weights, partitioning
from mt_music.training.train_state import TrainState

Array = jax.Array
Batch = Mapping[str, Array]
DECAYED_PARAMS = ("kernel", "logits_kernel")


# ------------------------------------------------------------------ optimizer


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """AdamW + linear warm-up + cosine; the defaults are the published settings (docs/design.md §5.3)."""

    learning_rate: float = 1e-4
    b1: float = 0.9
    b2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 0.01
    clip_norm: float = 1.0  # global-norm clipping; 0 disables
    warmup_steps: int = 2_000
    total_steps: int = 600_000
    decay_fraction: float = 0.8  # cosine ends at this fraction of total_steps, constant after
    final_learning_rate: float = 1e-5
    # Keep an fp32 copy of the weights (and fp32 moments) in the optimizer state: for low-precision params
    # (network.TransformerConfig.param_dtype = 'bfloat16'), whose own updates would round away.
    master_weights: bool = False


def learning_rate_schedule(config: OptimizerConfig) -> optax.Schedule:
    """0 → peak linearly over warm-up, cosine to the final rate at decay_fraction·total_steps, then flat."""
    decay_end = max(int(config.decay_fraction * config.total_steps), config.warmup_steps + 1)
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=config.learning_rate, warmup_steps=config.warmup_steps,
        decay_steps=decay_end, end_value=config.final_learning_rate)


def weight_decay_mask(params: Any) -> Any:
    """True for the parameters AdamW decays (matmul kernels); works on boxed trees too."""
    def decays(path, _):
        names = [key.key for key in path if isinstance(key, jax.tree_util.DictKey)]
        return bool(names) and names[-1] in DECAYED_PARAMS
    return jax.tree_util.tree_map_with_path(decays, params)


def make_optimizer(config: OptimizerConfig) -> optax.GradientTransformation:
    adamw = optax.adamw(learning_rate_schedule(config), b1=config.b1, b2=config.b2, eps=config.eps,
                        weight_decay=config.weight_decay, mask=weight_decay_mask)
    tx = optax.chain(optax.clip_by_global_norm(config.clip_norm), adamw) if config.clip_norm > 0 else adamw
    return master_weights.with_master_weights(tx) if config.master_weights else tx


# ------------------------------------------------------------------ metrics helpers

# The model's metrics that add across microbatches; the means are recomputed from them.
_MEANS = {  # name: (numerator, denominator)
    "loss": ("loss_sum", "weight_sum"),
    "z_loss": ("z_loss_sum", "weight_sum"),
    "accuracy": ("correct_sum", "weight_sum"),
    "accuracy_per_slot": ("correct_per_slot_sum", "weight_per_slot_sum"),
}


def _normalise(sums: dict[str, Array]) -> dict[str, Array]:
    metrics = dict(sums)
    for name, (numerator, denominator) in _MEANS.items():
        metrics[name] = sums[numerator] / jnp.maximum(sums[denominator], 1e-8)
    return metrics


def _split_microbatches(batch: Batch, num_microbatches: int) -> dict[str, Array]:
    """[B, ...] → [M, B/M, ...] taking every M-th example, so each device keeps its own rows."""
    def split(x):
        b = x.shape[0]
        if b % num_microbatches:
            raise UserError(f"the batch ({b} rows per step) is not divisible by train.train.num_microbatches = "
                            f"{num_microbatches}; choose a divisor of it")
        x = x.reshape((b // num_microbatches, num_microbatches) + x.shape[1:]).swapaxes(0, 1)
        return nn.with_logical_constraint(x, (None, "batch") + (None,) * (x.ndim - 2))
    return {name: split(value) for name, value in batch.items()}


# ------------------------------------------------------------------ trainer


class Trainer:
    """Builds the sharded train state and runs jitted train steps on one mesh.

    `input_shapes` gives [B, L, K] shapes of encoder/decoder_input_tokens; only
    the lengths matter for the parameters (init uses the smallest shardable batch).
    """

    def __init__(self, model: models.EncoderDecoderModel, partitioner: partitioning.Partitioner,
                 input_shapes: Mapping[str, tuple[int, ...]], optimizer: OptimizerConfig = OptimizerConfig(),
                 *, num_microbatches: int = 1):
        self.model = model
        self.partitioner = partitioner
        self.optimizer = optimizer
        self.tx = make_optimizer(optimizer)
        self.schedule = learning_rate_schedule(optimizer)
        self.num_microbatches = num_microbatches
        ways = partitioner.batch_ways
        self._init_shapes = {name: (ways,) + tuple(input_shapes[name])[1:]
                             for name in ("encoder_input_tokens", "decoder_input_tokens")}
        self.abstract_state = partitioner.abstract(self._init_fn, jax.random.PRNGKey(0))
        self.state_shardings = jax.tree.map(lambda a: a.sharding, self.abstract_state)
        replicated = partitioner.replicated()
        data = partitioner.data_sharding
        self._train_step = jax.jit(self._train_step_impl, in_shardings=(self.state_shardings, data),
                                   out_shardings=(self.state_shardings, replicated), donate_argnums=0)
        self._gradients = jax.jit(self._gradients_impl, in_shardings=(self.state_shardings.params, data, replicated),
                                  out_shardings=(self.state_shardings.params, replicated))

    def _init_fn(self, rng: Array) -> TrainState:
        params_rng, state_rng = jax.random.split(rng)
        variables = self.model.get_initial_variables(params_rng, self._init_shapes)
        return TrainState.create(variables["params"], self.tx, state_rng)

    def create_state(self, seed: int = 0) -> TrainState:
        """A fresh, sharded state; the same values on every mesh (partitionable threefry)."""
        state, _ = self.partitioner.init(self._init_fn, jax.random.PRNGKey(seed))
        return state

    # ------------------------------------------------------------ step

    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, Array]]:
        """One optimizer step; `state` is donated (do not reuse it), metrics are replicated arrays."""
        with self.partitioner.activate():
            return self._train_step(state, batch)

    def gradients(self, params: Any, batch: Batch, dropout_rng: Array | None = None) -> tuple[Any, dict[str, Array]]:
        """Normalised gradients and metrics of a batch as the train step sees them (dropout from the key)."""
        rng = jax.random.PRNGKey(0) if dropout_rng is None else dropout_rng
        with self.partitioner.activate():
            return self._gradients(params, batch, rng)

    def global_batch(self, local_batch: Mapping[str, np.ndarray], global_batch_size: int) -> dict[str, Array]:
        return self.partitioner.global_batch(local_batch, global_batch_size)

    def _gradients_impl(self, params: Any, batch: Batch, rng: Array) -> tuple[Any, dict[str, Array]]:
        def loss_sum(params, microbatch, rng):
            _, metrics = self.model.loss_fn(params, microbatch, rng)
            return metrics["loss_sum"], {k: v for k, v in metrics.items() if k not in _MEANS}

        value_and_grad = jax.value_and_grad(loss_sum, has_aux=True)

        def grad_fn(params, microbatch, rng):  # gradients summed in fp32, whatever the params' dtype
            value, grads = value_and_grad(params, microbatch, rng)
            return value, jax.tree.map(lambda g: g.astype(jnp.float32), grads)
        if self.num_microbatches == 1:
            (_, sums), grads = grad_fn(params, batch, rng)
        else:
            microbatches = _split_microbatches(batch, self.num_microbatches)

            def body(carry, inputs):
                index, microbatch = inputs
                (_, sums), grads = grad_fn(params, microbatch, jax.random.fold_in(rng, index))
                return jax.tree.map(jnp.add, carry, (grads, sums)), None

            first = jax.tree.map(lambda x: x[0], microbatches)
            (_, sums_shape), grads_shape = jax.eval_shape(grad_fn, params, first, rng)
            zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), (grads_shape, sums_shape))
            zeros = (jax.lax.with_sharding_constraint(zeros[0], self.state_shardings.params), zeros[1])
            (grads, sums), _ = jax.lax.scan(body, zeros, (jnp.arange(self.num_microbatches), microbatches))
        total_weight = jnp.maximum(sums["weight_sum"], 1e-8)
        grads = jax.tree.map(lambda g: g / total_weight, grads)
        return grads, _normalise(sums)

    def _train_step_impl(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, Array]]:
        rng, dropout_rng = jax.random.split(state.rng)
        grads, metrics = self._gradients_impl(state.params, batch, dropout_rng)
        grad_norm = optax.tree.norm(grads)
        updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        finite = jnp.isfinite(grad_norm) & jnp.isfinite(metrics["loss"]) & all_finite(params)
        skipped_steps = state.skipped_steps + (~finite).astype(jnp.int32)
        metrics.update(grad_norm=grad_norm, learning_rate=self.schedule(state.updates_applied), skipped=~finite,
                       skipped_steps=skipped_steps)
        new_state = state.replace(step=state.step + 1, params=keep_if(finite, params, state.params),
                                  opt_state=keep_if(finite, opt_state, state.opt_state), rng=rng, skipped_steps=skipped_steps)
        return new_state, metrics


def count_parameters(tree: Any) -> int:
    """Number of scalars in a parameter tree (arrays or shape structs)."""
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


def all_finite(*trees: Any) -> Array:
    """True when every leaf of every tree is finite: the NaN guard's test."""
    leaves = [jnp.all(jnp.isfinite(x)) for tree in trees for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def keep_if(finite: Array, new: Any, old: Any) -> Any:
    """The NaN guard's update: `new` where the step was finite, `old` (the step is skipped) otherwise."""
    return jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)


# ------------------------------------------------------------------ reporting

_PEAK_BY_DEVICE_KIND = (("h200", "h200"), ("h100", "h100"), ("a100", "a100"), ("v5 lite", "tpu_v5e"),
                        ("v5e", "tpu_v5e"), ("v5p", "tpu_v5p"), ("tpu v5", "tpu_v5p"), ("tpu v4", "tpu_v4"))


def peak_flops_per_device(device: jax.Device | None = None, override: float | None = None) -> float | None:
    """Dense bf16 peak FLOP/s of one device from its kind (flops.PEAK_BF16_FLOPS), or the override.

    None when unknown (CPUs): MFU is then not reported unless a peak is given.
    """
    if override:
        return float(override)
    kind = (device or jax.devices()[0]).device_kind.lower()
    for pattern, key in _PEAK_BY_DEVICE_KIND:
        if pattern in kind:
            return flops.PEAK_BF16_FLOPS[key]
    return None


class MetricsReporter:
    """Scalars of the latest step plus throughput since the previous report → writer and log.

    A "token" is one sequence position (a K-slot frame), encoder plus decoder,
    padding included — the unit the analytic FLOP count is per. With the data source's
    `task_names` the per-task losses are named (`train/task/<name>/loss`), and with its
    `task_weights(step)` the curriculum's weights are logged beside them. A task's loss is taken
    over every step since the previous report (`accumulate` adds each step's sums on the device,
    without waiting for it): one step's batch holds few examples of a task. `summary()` is the
    per-task table of early → latest loss (means over a few reports).
    """

    def __init__(self, writer, config, *, batch_size: int, encoder_length: int, decoder_length: int,
                 num_devices: int, peak_flops: float | None = None, task_names: Sequence[str] | None = None,
                 task_weights: Callable[[int], Mapping[str, float]] | None = None):
        self.writer = writer
        self.task_names, self.task_weights = task_names, task_weights
        self.task_history: dict[str, list[tuple[int, float]]] = {}
        self.step_flops = flops.train_step_flops(config, batch_size, encoder_length, decoder_length)
        self.tokens_per_step = batch_size * (encoder_length + decoder_length)
        self.num_devices = num_devices
        self.peak_flops = peak_flops
        self._step = None
        self._time = None
        self._task_sums = None  # (loss sums, weight sums) since the last report, on the device

    def accumulate(self, metrics: Mapping[str, Array]) -> None:
        """Adds one step's per-task sums (call it after every step; it does not block)."""
        if "task_loss_sum" not in metrics:
            return
        sums = (metrics["task_loss_sum"], metrics["task_weight_sum"])
        self._task_sums = sums if self._task_sums is None else tuple(a + b for a, b in zip(self._task_sums, sums))

    def start(self, step: int) -> None:
        """Restart the clock (after compilation, or after a pause such as a checkpoint)."""
        self._step, self._time = step, time.perf_counter()

    def report(self, step: int, metrics: Mapping[str, Array]) -> dict[str, float]:
        metrics = jax.device_get(dict(metrics))  # waits for the step
        now = time.perf_counter()
        scalars = {
            "train/loss": metrics["loss"],
            "train/z_loss": metrics["z_loss"],
            "train/accuracy": metrics["accuracy"],
            "train/learning_rate": metrics["learning_rate"],
            "train/grad_norm": metrics["grad_norm"],
            "train/skipped_steps": metrics["skipped_steps"],
            "train/target_tokens": metrics["num_tokens"],
        }
        for slot, value in enumerate(np.asarray(metrics["accuracy_per_slot"]).tolist()):
            scalars[f"train/accuracy_slot{slot}"] = value
        if "task_loss_sum" in metrics:
            loss_sums, weights = (np.asarray(metrics["task_loss_sum"]), np.asarray(metrics["task_weight_sum"]))
            if self._task_sums is not None:
                loss_sums, weights = (np.asarray(x) for x in jax.device_get(self._task_sums))
                self._task_sums = None
            for task in np.flatnonzero(weights):
                name = self._task_name(int(task))
                loss = float(loss_sums[task] / weights[task])
                scalars[f"train/task/{name}/loss"] = loss
                self.task_history.setdefault(name, []).append((step, loss))
        if self.task_weights is not None:
            for name, weight in self.task_weights(step).items():
                scalars[f"train/task/{name}/weight"] = weight
        if self._step is not None and step > self._step:
            step_time = (now - self._time) / (step - self._step)
            scalars["perf/step_time_s"] = step_time
            scalars["perf/tokens_per_s"] = self.tokens_per_step / step_time
            scalars["perf/tflops_per_device"] = self.step_flops / step_time / self.num_devices / 1e12
            if self.peak_flops:
                scalars["perf/mfu"] = flops.mfu(self.step_flops, step_time, self.num_devices, self.peak_flops)
        scalars = {name: float(value) for name, value in scalars.items()}
        self.writer.write_scalars(step, scalars)
        logging.info("step %d: %s", step, format_scalars(scalars))
        self._step, self._time = step, now
        return scalars


    def _task_name(self, task: int) -> str:
        return self.task_names[task] if self.task_names and task < len(self.task_names) else f"task{task}"

    def summary(self, reports: int = 3) -> str:
        """Per task: the mean loss of its first and of its latest `reports` reports, with their steps."""
        lines = [f"{'task':<14} {'early loss':>10} {'(steps)':<13} {'late loss':>10} {'(steps)':<13}"]
        for name, history in self.task_history.items():
            early, late = history[:reports], history[-reports:]
            cells = []
            for part in (early, late):
                cells += [f"{np.mean([loss for _, loss in part]):>10.3f}", f"({part[0][0]}-{part[-1][0]})".ljust(13)]
            lines.append(f"{name:<14} " + " ".join(cells))
        return "\n".join(lines)


def format_scalars(scalars: Mapping[str, float]) -> str:
    """The progress line: loss, learning rate, throughput, MFU."""
    parts = [f"loss {scalars['train/loss']:.4f}", f"acc {scalars['train/accuracy']:.3f}",
             f"lr {scalars['train/learning_rate']:.3g}", f"grad_norm {scalars['train/grad_norm']:.3g}"]
    if "perf/step_time_s" in scalars:
        parts += [f"step {scalars['perf/step_time_s'] * 1e3:.1f} ms", f"tokens/s {scalars['perf/tokens_per_s']:.0f}"]
    if "perf/mfu" in scalars:
        parts.append(f"MFU {100 * scalars['perf/mfu']:.1f}%")
    if scalars.get("train/skipped_steps"):
        parts.append(f"skipped {int(scalars['train/skipped_steps'])}")
    return ", ".join(parts)

