"""The codec train step: generator (+ discriminator) updates, EMA codebooks, dead-code restarts.

Same machinery as the translation trainer — a Partitioner's mesh, jitted steps with
explicit shardings and a donated state, optax AdamW with the shared schedule,
orbax-checkpointable state, the NaN guard — with what codecs add:

* non-gradient quantizer state (EMA codebooks, usage counts) updated by the
  forward pass and kept in the train state;
* dead codes restarted after every update (`quantizer.restart_dead_codes`);
* for adversarial codecs a discriminator with its own optimizer, updated in the
  same step on the generator's (stopped-gradient) reconstructions; the generator's
  adversarial terms switch on at `adversarial_start_step` (DAC trains both from
  the start; a later start lets the spectral losses shape the codec first).

Codecs train data-parallel: the batch is split over (data, fsdp); parameters
(a few tens of millions) are replicated.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from mt_music.codecs import models, quantizer
from mt_music.training import partitioning, trainer

Array = jax.Array


@flax.struct.dataclass
class CodecTrainState:
    step: Array
    params: Any
    opt_state: Any
    quantizer: Any  # EMA codebooks / usage counts ("quantizer" collection)
    disc_params: Any  # {} without a discriminator
    disc_opt_state: Any
    rng: Array
    skipped_steps: Array

    @property
    def updates_applied(self) -> Array:
        return self.step - self.skipped_steps

    @property
    def variables(self) -> dict[str, Any]:
        """What the codec network needs for inference."""
        return {"params": self.params, "quantizer": self.quantizer}


# Codec defaults (DAC: AdamW lr 1e-4, betas 0.8/0.99); the schedule is the shared warm-up + cosine.
CODEC_OPTIMIZER = trainer.OptimizerConfig(learning_rate=1e-4, b1=0.8, b2=0.99, weight_decay=0.01, clip_norm=1e3,
                                          warmup_steps=1000, total_steps=400_000, final_learning_rate=1e-5)


class CodecTrainer:
    """Sharded state creation and the jitted train / eval steps of one codec model on one mesh."""

    def __init__(self, model: models.CodecModel, partitioner: partitioning.Partitioner,
                 batch_shapes: Mapping[str, tuple[int, ...]], optimizer: trainer.OptimizerConfig = CODEC_OPTIMIZER,
                 discriminator_optimizer: trainer.OptimizerConfig | None = None, *, adversarial_start_step: int = 0,
                 compiler_options: Mapping[str, object] | None = None):
        """`compiler_options` go to XLA with the steps (e.g. {"xla_backend_optimization_level": 0}: faster
        CPU compiles, slower steps; what tests of a few steps want)."""
        self.model = model
        self.partitioner = partitioner
        self.tx = trainer.make_optimizer(optimizer)
        self.disc_tx = trainer.make_optimizer(discriminator_optimizer or optimizer)
        self.schedule = trainer.learning_rate_schedule(optimizer)
        self.adversarial_start_step = adversarial_start_step
        ways = partitioner.batch_ways
        self._init_batch = {name: jax.ShapeDtypeStruct((ways,) + tuple(shape)[1:], jnp.float32)
                            for name, shape in batch_shapes.items()}
        self.abstract_state = partitioner.abstract(self._init_fn, jax.random.PRNGKey(0))
        self.state_shardings = jax.tree.map(lambda a: a.sharding, self.abstract_state)
        replicated, data = partitioner.replicated(), partitioner.data_sharding
        options = dict(compiler_options) if compiler_options else None
        self._train_step = jax.jit(self._train_step_impl, in_shardings=(self.state_shardings, data),
                                   out_shardings=(self.state_shardings, replicated), donate_argnums=0,
                                   compiler_options=options)
        self._eval_step = jax.jit(self._eval_step_impl, in_shardings=(self.state_shardings, data),
                                  out_shardings=(replicated, data), compiler_options=options)

    def _init_fn(self, rng: Array) -> CodecTrainState:
        init_rng, state_rng = jax.random.split(rng)
        batch = {name: jnp.zeros(s.shape, s.dtype) for name, s in self._init_batch.items()}
        variables, disc_params = self.model.init(init_rng, batch)
        return CodecTrainState(
            step=jnp.zeros((), jnp.int32), params=variables["params"], opt_state=self.tx.init(variables["params"]),
            quantizer=variables["quantizer"], disc_params=disc_params, disc_opt_state=self.disc_tx.init(disc_params),
            rng=state_rng, skipped_steps=jnp.zeros((), jnp.int32))

    def create_state(self, seed: int = 0) -> CodecTrainState:
        state, _ = self.partitioner.init(self._init_fn, jax.random.PRNGKey(seed))
        return state

    def global_batch(self, local_batch: Mapping[str, np.ndarray], global_batch_size: int) -> dict[str, Array]:
        return self.partitioner.global_batch(local_batch, global_batch_size)

    # ------------------------------------------------------------ steps

    def train_step(self, state: CodecTrainState, batch: Mapping[str, Array]) -> tuple[CodecTrainState, dict]:
        """One update of the codec (and discriminator); `state` is donated."""
        with self.partitioner.activate():
            return self._train_step(state, batch)

    def eval_step(self, state: CodecTrainState, batch: Mapping[str, Array]) -> tuple[dict, Array]:
        """(reconstruction metrics, reconstruction) in inference mode (frozen codebooks, all stages)."""
        with self.partitioner.activate():
            return self._eval_step(state, batch)

    def _train_step_impl(self, state: CodecTrainState, batch) -> tuple[CodecTrainState, dict[str, Array]]:
        model = self.model
        rng, forward_rng, restart_rng = jax.random.split(state.rng, 3)
        gate = (state.step >= self.adversarial_start_step).astype(jnp.float32)
        grad_fn = jax.value_and_grad(model.generator_loss, has_aux=True)
        (loss, (metrics, quantizer_state, reconstruction)), grads = grad_fn(
            state.params, state.quantizer, state.disc_params, batch, forward_rng, gate)
        grad_norm = optax.tree.norm(grads)
        updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)

        disc_params, disc_opt_state = state.disc_params, state.disc_opt_state
        if model.adversarial:
            disc_fn = jax.value_and_grad(model.discriminator_loss, has_aux=True)
            (disc_loss, disc_metrics), disc_grads = disc_fn(state.disc_params, batch, reconstruction)
            disc_grad_norm = optax.tree.norm(disc_grads)
            disc_updates, disc_opt_state = self.disc_tx.update(disc_grads, state.disc_opt_state, state.disc_params)
            disc_params = optax.apply_updates(state.disc_params, disc_updates)
            finite &= jnp.isfinite(disc_loss) & jnp.isfinite(disc_grad_norm)
            metrics.update(disc_metrics, **{"train/disc_grad_norm": disc_grad_norm})

        params, quantizer_state, restarted = quantizer.restart_dead_codes(params, quantizer_state, restart_rng)
        finite &= trainer.all_finite(quantizer_state)
        keep = functools.partial(trainer.keep_if, finite)

        skipped_steps = state.skipped_steps + (~finite).astype(jnp.int32)
        metrics.update({"train/grad_norm": grad_norm, "train/learning_rate": self.schedule(state.updates_applied),
                        "train/skipped_steps": skipped_steps, "vq/restarted_codes": restarted,
                        "train/adversarial_gate": gate})
        new_state = state.replace(
            step=state.step + 1, params=keep(params, state.params), opt_state=keep(opt_state, state.opt_state),
            quantizer=keep(quantizer_state, state.quantizer), disc_params=keep(disc_params, state.disc_params),
            disc_opt_state=keep(disc_opt_state, state.disc_opt_state), rng=rng, skipped_steps=skipped_steps)
        return new_state, metrics

    def _eval_step_impl(self, state: CodecTrainState, batch) -> tuple[dict[str, Array], Array]:
        x = batch[self.model.feature]
        reconstruction = self.model.reconstruct(state.variables, x)
        return self.model.reconstruction_metrics(x, reconstruction), reconstruction
