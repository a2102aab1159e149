"""Residual vector quantizer shared by the image RQ-VAE (kind "ema") and the audio codec ("factorized").

Stage k quantizes the residual that stages < k left; the codec sees the sum of the stages. Per-stage state
is stacked on a leading K axis, so `restart_dead_codes` treats all stages of a quantizer in a few array ops.

Variables: "params" holds the factorized codebooks and projections; "quantizer" holds the EMA codebooks,
per-code usage (relative to the uniform share: 1.0 = used 1/codebook_size of the time), restart
candidates and the restart threshold (kept in the state so `restart_dead_codes` needs no config).
"""

from __future__ import annotations

import dataclasses

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import traverse_util

Array = jax.Array
_PSEUDO_COUNT = 1.0  # EMA cluster size of a fresh (initial or restarted) code: a prior worth one observation
_LAPLACE_EPS = 1e-5
_HIGHEST = jax.lax.Precision.HIGHEST  # exact distances on GPU too (TF32 flips near-tie assignments)


@dataclasses.dataclass(frozen=True)
class QuantizerConfig:
    """Quantizer hyper-parameters.

    restart_threshold is relative to the uniform usage: a code is dead when its usage EMA falls below
    `restart_threshold / codebook_size` of the assignments. Usage starts at the uniform share, so a
    never-chosen code needs log(threshold)/log(usage_decay) steps (≈ 350 with the defaults) to die:
    a built-in warm-up that keeps early restarts from firing before the encoder has settled.
    """

    num_codebooks: int = 4
    codebook_size: int = 1024
    codebook_dim: int | None = None  # "factorized": lookup dim (DAC: 8); None: the input dim
    kind: str = "ema"  # "ema" | "factorized"
    ema_decay: float = 0.99
    commitment_weight: float = 0.25
    codebook_weight: float = 1.0  # factorized only (EMA codebooks get no gradient)
    dropout_probability: float = 0.0  # per example: with this prob. use only the first n~U{1..K} codebooks
    usage_decay: float = 0.99  # EMA of per-code assignment frequency (both kinds)
    restart_threshold: float = 0.03  # usage EMA below this fraction of the uniform share → restarted


class QuantizerOutput(flax.struct.PyTreeNode):
    """Losses are raw (unweighted): per-element MSE averaged over all vectors, summed over stages.

    Under quantizer dropout a dropped stage contributes zero for that example's vectors (DAC), and the
    usage/perplexity metrics and the EMA/usage updates count only vectors whose example kept the stage.
    """

    quantized: Array  # [..., D] straight-through (grads pass to z)
    codes: Array  # [..., K] int32; dropped stages (quantizer dropout) still report their lookup
    commitment_loss: Array  # scalar
    codebook_loss: Array  # scalar, 0 for "ema"
    usage: Array  # [K] fraction of codes used in this batch
    perplexity: Array  # [K] exp(entropy) of this batch's code histogram


def _l2_normalize(x: Array) -> Array:
    return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x, axis=-1, keepdims=True), 1e-12))


class ResidualVectorQuantizer(nn.Module):
    """K-stage residual VQ over the last axis of z [..., D]; the first axis counts as the example axis."""

    config: QuantizerConfig

    @nn.compact
    def _variables(self, dim: int) -> dict:
        """Declares (init) or fetches (apply) all variables; values are arrays, state entries Variables."""
        cfg = self.config
        k, n = cfg.num_codebooks, cfg.codebook_size
        c = cfg.codebook_dim or dim
        v = {}
        if cfg.kind == "ema":
            if c != dim:
                raise ValueError(f"kind 'ema' looks up in the input space: codebook_dim {c} != input dim {dim}")
            # Small codebook (norm ≈ 1) against larger encoder outputs: assignment is then decided by the
            # direction (argmax z·e), so the first batches spread over the codes instead of the shortest few.
            v["codebook"] = self.variable(
                "quantizer", "codebook", lambda: jax.random.normal(self.make_rng("params"), (k, n, c)) * c**-0.5
            )
            v["cluster_size"] = self.variable("quantizer", "cluster_size", jnp.full, (k, n), _PSEUDO_COUNT, jnp.float32)
            v["embed_sum"] = self.variable("quantizer", "embed_sum", lambda: v["codebook"].value * _PSEUDO_COUNT)
            codebook = v["codebook"].value
        elif cfg.kind == "factorized":
            lecun = nn.initializers.lecun_normal(batch_axis=(0,))
            codebook = v["codebook"] = self.param("codebook", nn.initializers.normal(1.0), (k, n, c))
            v["in_kernel"] = self.param("in_kernel", lecun, (k, dim, c))
            v["in_bias"] = self.param("in_bias", nn.initializers.zeros, (k, c))
            v["out_kernel"] = self.param("out_kernel", lecun, (k, c, dim))
            v["out_bias"] = self.param("out_bias", nn.initializers.zeros, (k, dim))
        else:
            raise ValueError(f"unknown quantizer kind {cfg.kind!r}")
        v["usage"] = self.variable("quantizer", "usage", jnp.ones, (k, n), jnp.float32)
        v["candidates"] = self.variable("quantizer", "candidates", lambda: jnp.asarray(codebook, jnp.float32))
        v["restart_threshold"] = self.variable(
            "quantizer", "restart_threshold", lambda: jnp.asarray(cfg.restart_threshold, jnp.float32)
        )
        return v

    def _codebook(self, v: dict, k: int) -> Array:
        cb = v["codebook"].value if self.config.kind == "ema" else v["codebook"]
        return cb[k].astype(jnp.float32)

    def _lookup(self, v: dict, k: int, residual: Array) -> tuple[Array, Array, Array]:
        """Returns (lookup-space input z_e, codes, codebook rows) for rows of residual [N, D]."""
        cb = self._codebook(v, k)
        if self.config.kind == "ema":
            z_e = residual
            dots = jnp.dot(z_e, cb.T, precision=_HIGHEST)
            dist = jnp.sum(z_e**2, -1, keepdims=True) - 2 * dots + jnp.sum(cb**2, -1)
            idx = jnp.argmin(dist, axis=-1)
        else:  # cosine distance in the low-dimensional space (DAC): no norm collapse, better usage
            z_e = jnp.dot(residual, v["in_kernel"][k], precision=_HIGHEST) + v["in_bias"][k]
            idx = jnp.argmax(jnp.dot(_l2_normalize(z_e), _l2_normalize(cb).T, precision=_HIGHEST), axis=-1)
        return z_e, idx.astype(jnp.int32), cb[idx]

    def _project_out(self, v: dict, k: int, x: Array) -> Array:
        if self.config.kind == "ema":
            return x
        return jnp.dot(x, v["out_kernel"][k], precision=_HIGHEST) + v["out_bias"][k]

    def __call__(self, z: Array, *, train: bool = False) -> QuantizerOutput:
        """Train mode: quantizer dropout, and (if "quantizer" is mutable) EMA/usage/candidate updates.

        Needs the "quantizer" rng in train mode when dropout_probability > 0 or the state is mutable.
        Candidates: codebook_size stage inputs (lookup space) drawn with replacement from this batch.
        """
        cfg = self.config
        num_k, size = cfg.num_codebooks, cfg.codebook_size
        v = self._variables(z.shape[-1])
        x = z.reshape(-1, z.shape[-1]).astype(jnp.float32)
        rows, batch = x.shape[0], (z.shape[0] if z.ndim > 1 else 1)
        update = train and self.is_mutable_collection("quantizer") and not self.is_initializing()
        drop = train and cfg.dropout_probability > 0
        # One uniform draw for all randomness: each threefry call site costs compile time.
        u = jax.random.uniform(self.make_rng("quantizer"), (2 * batch + num_k * size,)) if update or drop else None

        keep = jnp.full((batch,), num_k)
        if drop:  # with prob. p keep n ~ U{1..K} stages of this example
            n_kept = 1 + jnp.minimum(jnp.floor(u[batch : 2 * batch] * num_k), num_k - 1).astype(jnp.int32)
            keep = jnp.where(u[:batch] < cfg.dropout_probability, n_kept, num_k)
        row_keep = jnp.repeat(keep, rows // batch, total_repeat_length=rows)

        residual, total = x, jnp.zeros_like(x)
        commit = codebook_loss = jnp.zeros((), jnp.float32)
        codes, usage, perplexity, new = [], [], [], {name: [] for name in v}
        for k in range(num_k):
            active = (row_keep > k).astype(jnp.float32)
            z_e, idx, q = self._lookup(v, k, residual)
            commit += jnp.mean(jnp.mean((z_e - jax.lax.stop_gradient(q)) ** 2, -1) * active)
            if cfg.kind == "ema":
                out = jax.lax.stop_gradient(q)  # straight-through is applied once, on the total
            else:
                codebook_loss += jnp.mean(jnp.mean((jax.lax.stop_gradient(z_e) - q) ** 2, -1) * active)
                out = self._project_out(v, k, z_e + jax.lax.stop_gradient(q - z_e))
            total += out * active[:, None]
            residual = residual - out
            codes.append(idx)

            assigned = jax.nn.one_hot(idx, size) * active[:, None]  # [N, size]: sums and a matmul, no scatter
            counts = assigned.sum(0)
            probs = counts / jnp.maximum(counts.sum(), 1.0)
            usage.append(jnp.mean(counts > 0))
            perplexity.append(jnp.exp(-jnp.sum(jax.scipy.special.xlogy(probs, probs))))
            if update:
                z_e = jax.lax.stop_gradient(z_e)
                old = v["usage"].value[k]
                moved = cfg.usage_decay * old + (1 - cfg.usage_decay) * probs * size
                new["usage"].append(jnp.where(counts.sum() > 0, moved, old))
                pick = jnp.minimum(u[2 * batch + k * size : 2 * batch + (k + 1) * size] * rows, rows - 1)
                new["candidates"].append(z_e[pick.astype(jnp.int32)])
                if cfg.kind == "ema":
                    d = cfg.ema_decay
                    cluster = d * v["cluster_size"].value[k] + (1 - d) * counts
                    embed_sum = d * v["embed_sum"].value[k] + (1 - d) * jnp.dot(assigned.T, z_e, precision=_HIGHEST)
                    n_total = cluster.sum()  # Laplace smoothing keeps rarely used codes finite
                    smoothed = (cluster + _LAPLACE_EPS) / (n_total + size * _LAPLACE_EPS) * n_total
                    new["cluster_size"].append(cluster)
                    new["embed_sum"].append(embed_sum)
                    new["codebook"].append(embed_sum / smoothed[:, None])
        for name, values in new.items():
            if values:
                v[name].value = jnp.stack(values).astype(v[name].value.dtype)

        quantized = x + jax.lax.stop_gradient(total - x) if cfg.kind == "ema" else total
        return QuantizerOutput(
            quantized=quantized.reshape(z.shape).astype(z.dtype),
            codes=jnp.stack(codes, -1).reshape(*z.shape[:-1], num_k),
            commitment_loss=commit,
            codebook_loss=codebook_loss,
            usage=jnp.stack(usage),
            perplexity=jnp.stack(perplexity),
        )

    def encode(self, z: Array) -> Array:
        """codes [..., K] int32 (eval mode: no dropout, no state update)."""
        return self(z).codes

    def decode(self, codes: Array) -> Array:
        """quantized [..., D] float32 from codes [..., n], n ≤ K: the sum of the first n stages."""
        if codes.shape[-1] > self.config.num_codebooks:
            raise ValueError(f"{codes.shape[-1]} code stages > num_codebooks {self.config.num_codebooks}")
        if self.config.kind == "ema":
            dim = self.get_variable("quantizer", "codebook").shape[-1]
        else:
            dim = self.get_variable("params", "out_kernel").shape[-1]
        v = self._variables(dim)
        out = jnp.zeros((*codes.shape[:-1], dim), jnp.float32)
        for k in range(codes.shape[-1]):
            out += self._project_out(v, k, self._codebook(v, k)[codes[..., k]])
        return out


def restart_dead_codes(params, quantizer_state, rng: Array):
    """Replaces codes whose usage EMA < restart_threshold by stored candidates; pure and jittable.

    Finds every ResidualVectorQuantizer in the trees (a "quantizer" sub-dict with usage, candidates and
    restart_threshold). Dead code j of stage k takes candidate row perm_k[j] (a random batch input in
    lookup space); its usage is reset to the uniform share 1.0 and, for EMA codebooks, its cluster size
    to the fresh pseudo-count. Optimizer moments of restarted factorized rows are left as they are.
    Returns (params, quantizer_state, num_restarted int32 scalar); the trees come back as plain dicts.
    """
    flat_p = traverse_util.flatten_dict(flax.core.unfreeze(params), keep_empty_nodes=True)
    flat_s = traverse_util.flatten_dict(flax.core.unfreeze(quantizer_state), keep_empty_nodes=True)
    prefixes = sorted(key[:-1] for key in flat_s if key[-1] == "candidates")
    num_restarted = jnp.zeros((), jnp.int32)
    for i, pre in enumerate(prefixes):
        usage, candidates = flat_s[(*pre, "usage")], flat_s[(*pre, "candidates")]
        num_k, size = usage.shape
        perm = jnp.argsort(jax.random.uniform(jax.random.fold_in(rng, i), (num_k, size)), axis=-1)
        fresh = jnp.take_along_axis(candidates, perm[..., None], axis=1)
        dead = usage < flat_s[(*pre, "restart_threshold")]
        num_restarted += jnp.sum(dead, dtype=jnp.int32)
        flat_s[(*pre, "usage")] = jnp.where(dead, 1.0, usage).astype(usage.dtype)
        if (*pre, "cluster_size") in flat_s:  # EMA codebook lives in the state
            for name, value in (("codebook", fresh), ("embed_sum", fresh * _PSEUDO_COUNT)):
                flat_s[(*pre, name)] = jnp.where(dead[..., None], value, flat_s[(*pre, name)])
            flat_s[(*pre, "cluster_size")] = jnp.where(dead, _PSEUDO_COUNT, flat_s[(*pre, "cluster_size")])
        else:
            codebook = flat_p[(*pre, "codebook")]
            flat_p[(*pre, "codebook")] = jnp.where(dead[..., None], fresh, codebook).astype(codebook.dtype)
    return traverse_util.unflatten_dict(flat_p), traverse_util.unflatten_dict(flat_s), num_restarted
