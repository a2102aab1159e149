"""Residual k-means: an RVQ fitted by Lloyd's algorithm instead of gradient descent.

The CPU codecs (docs/design.md §6.2.1) quantize fixed features — 16×16 pixel patches, log-mel
frames — so their codebooks need no encoder to train with: stage k runs k-means on the residual
that stages < k left, which is what an RVQ's EMA codebooks converge to with a frozen encoder.
A fit is a pure function of (data, config): random initial centroids from the data rows, a fixed
number of Lloyd iterations, empty clusters re-seeded with the worst-fitted rows.

Greedy residual encoding picks each stage's nearest centroid; `beam_width` > 1 keeps the best
partial sums over stages instead (M-best RVQ search), and `refine` then re-fits every codebook to
the codes that search assigns with the other stages fixed (joint RVQ refinement) — both lower the
distortion of the same codebook sizes. Assignment is one jitted matmul per chunk (bounded memory
at any N); updates are NumPy.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

ASSIGN_CHUNK = 32768  # rows per jitted assignment: [chunk, codebook_size] distances stay ≈ 128 MiB


@dataclasses.dataclass(frozen=True)
class KMeansConfig:
    num_codebooks: int = 4
    codebook_size: int = 1024
    iterations: int = 15
    seed: int = 0


@jax.jit
def _nearest(rows: jax.Array, centroids: jax.Array) -> jax.Array:
    # ‖x − c‖² up to the per-row constant ‖x‖²; HIGHEST keeps near-ties stable across backends.
    scores = jnp.sum(centroids * centroids, -1)[None] - 2 * jnp.matmul(rows, centroids.T, precision="highest")
    return jnp.argmin(scores, axis=-1).astype(jnp.int32)


def nearest(rows: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (squared L2) for every row; int32 [N]."""
    if not len(rows):
        return np.zeros((0,), np.int32)
    centroids = jnp.asarray(centroids, jnp.float32)
    return np.concatenate([np.asarray(_nearest(jnp.asarray(rows[i: i + ASSIGN_CHUNK], jnp.float32), centroids))
                           for i in range(0, len(rows), ASSIGN_CHUNK)])


def cluster_sums(rows: np.ndarray, assignment: np.ndarray, size: int) -> np.ndarray:
    """Σ of the rows assigned to each of `size` clusters, [size, D] (a sparse one-hot product: 3–4× np.add.at)."""
    import scipy.sparse

    one_hot = scipy.sparse.csr_matrix((np.ones(len(rows), np.float32), (assignment, np.arange(len(rows)))),
                                      shape=(size, len(rows)))
    return np.asarray(one_hot @ rows, np.float32)


def fit_codebook(rows: np.ndarray, size: int, iterations: int, rng: np.random.Generator) -> np.ndarray:
    """One k-means codebook [size, D] over rows [N, D] (N ≥ size)."""
    rows = np.asarray(rows, np.float32)
    if len(rows) < size:
        raise ValueError(f"k-means needs at least {size} rows to fit {size} centroids, got {len(rows)}")
    centroids = rows[rng.choice(len(rows), size, replace=False)].copy()
    for _ in range(iterations):
        assignment = nearest(rows, centroids)
        counts = np.bincount(assignment, minlength=size)
        sums = cluster_sums(rows, assignment, size)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
        if not filled.all():  # re-seed empty clusters with the rows fitted worst
            errors = np.sum((rows - centroids[assignment]) ** 2, axis=-1)
            centroids[~filled] = rows[np.argsort(-errors)[: int((~filled).sum())]]
    return centroids


def fit(rows: np.ndarray, config: KMeansConfig = KMeansConfig(),
        progress: Callable[[int, float], None] | None = None) -> np.ndarray:
    """Codebooks [K, size, D]: stage k fitted to the residual of stages < k. `progress(stage, mse)`
    is called after each stage with the mean squared residual left."""
    rng = np.random.default_rng(config.seed)
    residual = np.array(rows, np.float32)
    codebooks = []
    for stage in range(config.num_codebooks):
        centroids = fit_codebook(residual, config.codebook_size, config.iterations, rng)
        residual -= centroids[nearest(residual, centroids)]
        codebooks.append(centroids)
        if progress:
            progress(stage, float(np.mean(residual**2)))
    return np.stack(codebooks)


def encode(rows: np.ndarray, codebooks: np.ndarray, beam_width: int = 1) -> np.ndarray:
    """Residual codes int32 [N, K] of rows [N, D]: greedy, or the best of a `beam_width` search."""
    if beam_width > 1 and len(codebooks) > 1 and len(rows):
        books = jnp.asarray(codebooks, jnp.float32)
        chunk = max(1, ASSIGN_CHUNK // beam_width)
        return np.concatenate([np.asarray(_beam_encode(jnp.asarray(rows[i: i + chunk], jnp.float32), books, beam_width))
                               for i in range(0, len(rows), chunk)])
    residual = np.array(rows, np.float32)
    codes = []
    for centroids in codebooks:
        codes.append(nearest(residual, centroids))
        residual -= centroids[codes[-1]]
    return np.stack(codes, axis=-1) if codes else np.zeros((len(rows), 0), np.int32)


@functools.partial(jax.jit, static_argnums=2)
def _beam_encode(rows: jax.Array, codebooks: jax.Array, beam_width: int) -> jax.Array:
    """M-best search: after each stage keep the `beam_width` partial codes with the smallest residual."""
    n = rows.shape[0]
    residual = rows[:, None, :]  # [N, beams, D]
    codes = jnp.zeros((n, 1, 0), jnp.int32)
    for stage in range(codebooks.shape[0]):
        centroids = codebooks[stage]
        errors = (jnp.sum(residual * residual, -1)[..., None]
                  - 2 * jnp.einsum("nbd,kd->nbk", residual, centroids, precision="highest")
                  + jnp.sum(centroids * centroids, -1))
        keep = beam_width if stage < codebooks.shape[0] - 1 else 1
        _, best = jax.lax.top_k(-errors.reshape(n, -1), keep)
        beam, code = best // centroids.shape[0], (best % centroids.shape[0]).astype(jnp.int32)
        residual = jnp.take_along_axis(residual, beam[..., None], 1) - centroids[code]
        codes = jnp.concatenate([jnp.take_along_axis(codes, beam[..., None], 1), code[..., None]], -1)
    return codes[:, 0]


def refine(rows: np.ndarray, codebooks: np.ndarray, rounds: int, beam_width: int = 1,
           progress: Callable[[int, float], None] | None = None) -> np.ndarray:
    """Joint refinement: encode (with the beam), then each centroid becomes the mean of what its rows
    need from it given the other stages' codes. `progress(round, mse)` after each round."""
    rows = np.asarray(rows, np.float32)
    codebooks = np.array(codebooks, np.float32)
    for round_index in range(rounds):
        codes = encode(rows, codebooks, beam_width)
        total = decode(codes, codebooks)
        for stage, centroids in enumerate(codebooks):
            wanted = rows - (total - centroids[codes[:, stage]])
            counts = np.bincount(codes[:, stage], minlength=len(centroids))
            sums = cluster_sums(wanted, codes[:, stage], len(centroids))
            used = counts > 0
            updated = centroids.copy()
            updated[used] = sums[used] / counts[used, None]
            total += updated[codes[:, stage]] - centroids[codes[:, stage]]
            codebooks[stage] = updated
        if progress:
            progress(round_index, float(np.mean((rows - total) ** 2)))
    return codebooks


def decode(codes: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """Σ_k codebooks[k][codes[:, k]]: [N, D] (fewer than K code columns use the first stages)."""
    codes = np.asarray(codes)
    out = np.zeros((*codes.shape[:-1], codebooks.shape[-1]), np.float32)
    for k in range(codes.shape[-1]):
        out += codebooks[k][codes[..., k]]
    return out
