"""Masked cross-entropy with label smoothing and z-loss (T5X `losses` in spirit).

Logits arrive already masked to the target modality's ids (masked entries hold a
large negative value). Label smoothing must then spread its mass over the ids the
model may emit — spreading over the whole vocabulary would charge the masked ids
~1e10 each — so `valid` names them. The smoothed loss is the KL divergence to the
smoothed target (the target entropy is subtracted), so a perfect model scores 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def token_cross_entropy(logits: Array, targets: Array, *, valid: Array | None = None,
                        label_smoothing: float = 0.0, z_loss: float = 0.0) -> tuple[Array, Array]:
    """Per-token (loss, z_loss); `loss` includes the z term.

    logits [..., V] (fp32), targets [...] int, valid bool broadcastable to logits (None: all ids).
    z-loss = z_loss · logsumexp(logits)² keeps the softmax normaliser near 1 (PaLM/T5X).
    """
    logits = logits.astype(jnp.float32)
    log_z = jax.nn.logsumexp(logits, axis=-1)
    target_logit = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    if label_smoothing > 0.0:
        if valid is None:
            valid = jnp.ones((), bool)
        valid = jnp.broadcast_to(valid, logits.shape)
        num_valid = valid.sum(-1).astype(jnp.float32)
        confidence = 1.0 - label_smoothing
        low = label_smoothing / jnp.maximum(num_valid - 1.0, 1.0)
        valid_sum = jnp.where(valid, logits, 0.0).sum(-1)
        expected_logit = confidence * target_logit + low * (valid_sum - target_logit)
        target_entropy = -(confidence * jnp.log(confidence) + (num_valid - 1.0) * low * jnp.log(low + 1e-20))
        loss = log_z - expected_logit - target_entropy
    else:
        loss = log_z - target_logit
    z_term = z_loss * jnp.square(log_z)
    return loss + z_term, z_term


def weighted_cross_entropy(logits: Array, targets: Array, weights: Array, *, valid: Array | None = None,
                           label_smoothing: float = 0.0, z_loss: float = 0.0) -> tuple[Array, Array, Array]:
    """(summed loss, summed z-loss, summed weights) over the weighted tokens."""
    loss, z_term = token_cross_entropy(logits, targets, valid=valid, label_smoothing=label_smoothing, z_loss=z_loss)
    weights = weights.astype(jnp.float32)
    return (loss * weights).sum(), (z_term * weights).sum(), weights.sum()
