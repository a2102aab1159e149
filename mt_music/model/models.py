"""EncoderDecoderModel: loss, eval, predict and score around the Transformer (T5X shape).

A trainer sees only this API: `get_initial_variables`, `loss_fn`, `eval_fn`,
`predict_batch(_with_aux)`, `score_batch`. Batches are dicts of arrays (see
FEATURES); PAD (0) in slot 0 marks padding. Metrics come back as plain arrays:
sums and counts add across batches and devices (`*_sum`, `num_*`), the rest are
this batch's means.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from mt_music.model import decoding, layer_stacks, losses, network
from mt_music.vocabulary import UnifiedVocabulary

Array = jax.Array
Batch = Mapping[str, Array]

# The features the network reads, in its argument order (docs/design.md §4.2).
FEATURES = ("encoder_input_tokens", "encoder_positions", "encoder_modality", "decoder_input_tokens",
            "decoder_target_tokens", "decoder_positions", "decoder_modality")
# What decoding reads (plus an optional "decoder_prefix_tokens").
PREDICT_FEATURES = ("encoder_input_tokens", "encoder_positions", "encoder_modality", "decoder_modality")


class EncoderDecoderModel:
    """Wraps a `network.Transformer` with the vocabulary's logit mask and decoding tables."""

    def __init__(self, module: network.Transformer, vocabulary: UnifiedVocabulary, *,
                 label_smoothing: float = 0.0, z_loss: float = 1e-4, num_tasks: int = 32):
        config = module.config
        if config.vocab_size < vocabulary.vocab_size:
            raise ValueError(f"TransformerConfig.vocab_size={config.vocab_size} is smaller than the vocabulary "
                             f"({vocabulary.vocab_size}); bind it to @network.padded_vocab_size()")
        if config.num_slots != vocabulary.num_slots:
            raise ValueError(f"TransformerConfig.num_slots={config.num_slots}, vocabulary has {vocabulary.num_slots}")
        self.module = module
        self.vocabulary = vocabulary
        self.label_smoothing = label_smoothing
        self.z_loss = z_loss
        self.num_tasks = num_tasks
        self.tables = decoding.DecodingTables.from_vocabulary(vocabulary, config.vocab_size)
        self._predict = jax.jit(self._predict_impl, static_argnames=("max_decode_length", "temperature", "top_k",
                                                                     "top_p"))

    # ------------------------------------------------------------ set-up

    def dummy_batch(self, input_shapes: Mapping[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
        """Zeros of the given shapes; [B, L, K] token shapes are enough, positions/modality follow."""
        shapes = dict(input_shapes)
        for side in ("encoder", "decoder"):
            tokens = shapes[f"{side}_input_tokens"]
            shapes.setdefault(f"{side}_positions", tokens[:2] + (2,))
            shapes.setdefault(f"{side}_modality", tokens[:1])
        shapes.setdefault("decoder_target_tokens", shapes["decoder_input_tokens"])
        return {name: np.zeros(shapes[name], np.int32) for name in FEATURES}

    def get_initial_variables(self, rng: Array, input_shapes: Mapping[str, tuple[int, ...]]) -> dict:
        """Variables with `nn.LogicallyPartitioned` boxes (logical axis names).

        `nn.get_partition_spec(v)` gives the logical specs, `nn.meta.unbox(v)` the arrays;
        every other method takes either. Wrap in jax.eval_shape for shapes without allocation.
        """
        batch = self.dummy_batch(input_shapes)
        return self.module.init({"params": rng, "dropout": rng}, *(batch[name] for name in FEATURES),
                                logit_mask=self.tables.logit_mask, enable_dropout=False)

    # ------------------------------------------------------------ training

    def _check(self, batch: Batch, features: tuple[str, ...]) -> None:
        missing = [name for name in features if name not in batch]
        if missing:
            raise KeyError(f"batch lacks {missing}; it has {sorted(batch)}")
        k = self.module.config.num_slots
        for name in ("encoder_input_tokens", "decoder_input_tokens", "decoder_target_tokens"):
            if name in batch and (batch[name].ndim != 3 or batch[name].shape[2] != k):
                raise ValueError(f"{name} must be [B, L, {k}], got {batch[name].shape}")

    def logits(self, params, batch: Batch, dropout_rng: Array | None = None) -> Array:
        """Teacher-forced, masked fp32 logits [B, Ld, K, V]."""
        self._check(batch, FEATURES)
        rngs = {"dropout": dropout_rng} if dropout_rng is not None else None
        return self.module.apply({"params": params}, *(batch[name] for name in FEATURES),
                                 logit_mask=self.tables.logit_mask, enable_dropout=dropout_rng is not None,
                                 rngs=rngs)

    def loss_fn(self, params, batch: Batch, dropout_rng: Array | None) -> tuple[Array, dict[str, Array]]:
        """Mean masked cross-entropy (+ z-loss) per weighted target token, and metrics.

        The loss is normalised by the sum of `decoder_loss_weights`, which by default
        is the number of non-PAD target ids.
        """
        logits = self.logits(params, batch, dropout_rng)
        targets = batch["decoder_target_tokens"]
        weights = self._loss_weights(batch)
        valid = jnp.asarray(self.tables.logit_mask)[batch["decoder_modality"]][:, None]  # [B, 1, K, V]
        token_loss, token_z = losses.token_cross_entropy(
            logits, targets, valid=valid, label_smoothing=self.label_smoothing, z_loss=self.z_loss)
        token_loss = token_loss * weights
        loss_sum, z_sum, weight_sum = token_loss.sum(), (token_z * weights).sum(), weights.sum()
        normaliser = jnp.maximum(weight_sum, 1e-8)
        loss = loss_sum / normaliser
        correct = (jnp.argmax(logits, -1) == targets) * weights
        counted = weights > 0
        metrics = {
            "loss": loss,
            "z_loss": z_sum / normaliser,
            "accuracy": correct.sum() / normaliser,
            "loss_sum": loss_sum,
            "z_loss_sum": z_sum,
            "weight_sum": weight_sum,
            "correct_sum": correct.sum(),
            "num_tokens": counted.sum(),
            "num_examples": jnp.asarray(targets.shape[0]),
            "correct_per_slot_sum": correct.sum((0, 1)),  # [K]
            "weight_per_slot_sum": weights.sum((0, 1)),  # [K]
            "accuracy_per_slot": correct.sum((0, 1)) / jnp.maximum(weights.sum((0, 1)), 1e-8),
        }
        if "task_id" in batch:
            per_example = lambda x: x.sum((1, 2))  # noqa: E731
            segment = functools.partial(jax.ops.segment_sum, segment_ids=batch["task_id"], num_segments=self.num_tasks)
            metrics.update({
                "task_loss_sum": segment(per_example(token_loss)),  # [num_tasks]
                "task_correct_sum": segment(per_example(correct)),
                "task_weight_sum": segment(per_example(weights)),
                "task_num_examples": segment(jnp.ones(targets.shape[0])),
            })
        return loss, metrics

    def eval_fn(self, params, batch: Batch) -> tuple[Array, dict[str, Array]]:
        return self.loss_fn(params, batch, dropout_rng=None)

    def score_batch(self, params, batch: Batch) -> Array:
        """Per-example log-likelihood [B] of the weighted target ids (no smoothing, no z-loss)."""
        logits = self.logits(params, batch)
        token_loss, _ = losses.token_cross_entropy(logits, batch["decoder_target_tokens"])
        return -(token_loss * self._loss_weights(batch)).sum((1, 2))

    @staticmethod
    def _loss_weights(batch: Batch) -> Array:
        if "decoder_loss_weights" in batch:
            return batch["decoder_loss_weights"].astype(jnp.float32)
        return (batch["decoder_target_tokens"] != 0).astype(jnp.float32)

    # ------------------------------------------------------------ inference

    def predict_batch(self, params, batch: Batch, rng: Array | None = None, **decode_kwargs) -> Array:
        return self.predict_batch_with_aux(params, batch, rng, **decode_kwargs)[0]

    def predict_batch_with_aux(self, params, batch: Batch, rng: Array | None = None, *,
                               max_decode_length: int | None = None, temperature=0.0, top_k: int = 0,
                               top_p=1.0) -> tuple[Array, dict[str, Array]]:
        """Frames [B, L, K] after SOS (PAD after EOS) and aux {scores, lengths, positions}.

        L = max_decode_length, default the batch's decoder length. temperature / top_p:
        one value or one per target modality (0 = greedy). An optional
        `decoder_prefix_tokens` [B, P, K] forces the first frames (e.g. audio overlap).
        """
        self._check(batch, PREDICT_FEATURES)
        if max_decode_length is None:
            if "decoder_input_tokens" not in batch:
                raise ValueError("pass max_decode_length or a batch with decoder_input_tokens to size the output")
            max_decode_length = batch["decoder_input_tokens"].shape[1]
        inputs = {name: batch[name] for name in PREDICT_FEATURES + ("decoder_prefix_tokens",) if name in batch}
        result = self._predict(params, inputs, rng, max_decode_length=max_decode_length,
                               temperature=decoding.per_modality(temperature), top_k=top_k,
                               top_p=decoding.per_modality(top_p))
        return result.frames, {"scores": result.scores, "lengths": result.lengths, "positions": result.positions}

    def _decoding_network(self, params) -> tuple[network.Transformer, dict]:
        """The network and params the decoding loop runs: unrolled layers, weights in the compute dtype.

        A scanned stack inside the while loop would slice every layer's weights out of its [L, ...] arrays
        at every step (a copy each on the CPU); unrolled, the loop body reads them where they are.
        """
        config = self.module.config
        params = network.params_in_compute_dtype(params, config)
        if not config.scan_layers:
            return self.module, params
        return network.Transformer(dataclasses.replace(config, scan_layers=False)), layer_stacks.to_unrolled(params)

    def _predict_impl(self, params, batch: Batch, rng, *, max_decode_length: int, temperature, top_k, top_p):
        module, params = self._decoding_network(params)
        apply = functools.partial(module.apply, {"params": params})
        modality = batch["decoder_modality"]
        encoder_tokens = batch["encoder_input_tokens"]
        encoded = apply(encoder_tokens, batch["encoder_positions"], batch["encoder_modality"], modality,
                        method=network.Transformer.encode)
        batch_size, k = encoder_tokens.shape[0], encoder_tokens.shape[2]
        # A shape-setting pass creates the caches (and projects the encoder once for cross-attention).
        _, variables = apply(
            encoded, encoder_tokens, jnp.zeros((batch_size, max_decode_length, k), jnp.int32),
            jnp.zeros((batch_size, max_decode_length, 2), jnp.int32), modality, decode=True, mutable=["cache"],
            method=network.Transformer.decode)

        def step_fn(cache, frame, position):
            hidden, variables = module.apply(
                {"params": params, "cache": cache}, encoded, encoder_tokens, frame, position, modality,
                decode=True, mutable=["cache"], method=network.Transformer.decode)
            return hidden, variables["cache"]

        # The sub-decoder's slot cache (K positions per example), the same empty one at every frame.
        hidden = jnp.zeros((batch_size, 1, module.config.emb_dim), module.config.dtype)
        _, slot_variables = apply(hidden, jnp.zeros((batch_size, 1, k), jnp.int32), modality, decode=True,
                                  mutable=["cache"], method=network.Transformer.sub_decode)

        def slot_logits_fn(hidden, previous_ids, slot, slot_cache):
            logits, variables = module.apply(
                {"params": params, "cache": slot_cache}, hidden, previous_ids, modality, self.tables.logit_mask,
                slot, mutable=["cache"], method=network.Transformer.sub_decode_step)
            return logits, variables["cache"]

        return decoding.decode(step_fn=step_fn, slot_logits_fn=slot_logits_fn, cache=variables["cache"],
                               slot_cache=slot_variables["cache"], tables=self.tables, modality=modality,
                               max_length=max_decode_length,
                               prefix=batch.get("decoder_prefix_tokens"), rng=rng, temperature=temperature,
                               top_k=top_k, top_p=top_p)
