"""Transformer building blocks (T5X style) with logical axis names on every parameter.

Parameters carry `nn.with_logical_partitioning` boxes and activations
`nn.with_logical_constraint`; both are no-ops until a mesh and logical axis rules
are active, so the same code runs on one CPU and on a sharded accelerator mesh.
Attention keeps a KV cache in the flax `cache` collection for step-by-step decoding.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array
NEG_INF = -1e10  # finite, so fully masked rows stay NaN-free

# Logical axis names this package uses, with the T5X-style mesh axis each one
# maps to. partitioning.py owns the final rules; this is the default it starts from.
#   params:      vocab, embed, mlp, heads, kv, abspos_buckets, modalities, slots, layers
#   activations: batch, length, embed, mlp, heads, kv, slots, vocab
def standard_logical_axis_rules(fsdp: bool = False) -> tuple[tuple[str, str | None], ...]:
    """batch→data, vocab/mlp/heads→model, embed→None (or 'data' with FSDP)."""
    return (
        ("batch", "data"),
        ("vocab", "model"),
        ("mlp", "model"),
        ("heads", "model"),
        ("kv", None),
        ("embed", "data" if fsdp else None),
        ("length", None),
        ("slots", None),
        ("abspos_buckets", None),
        ("modalities", None),
        ("layers", None),  # the stacked axis of scanned layers (TransformerConfig.scan_layers)
    )


def constrain(x: Array, axes: Sequence[str | None]) -> Array:
    return nn.with_logical_constraint(x, tuple(axes))


DENSE_INIT = nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")


def attention_mask(query_valid: Array, key_valid: Array) -> Array:
    """[B, Lq], [B, Lk] bool → [B, 1, Lq, Lk]."""
    return query_valid[:, None, :, None] & key_valid[:, None, None, :]


def causal_mask(length: int) -> Array:
    """[1, 1, L, L]: query i sees keys j <= i."""
    return jnp.tril(jnp.ones((length, length), bool))[None, None]


class LayerNorm(nn.Module):
    """Pre-LN normalisation, computed in fp32 and cast back to the compute dtype."""

    epsilon: float = 1e-6
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        features = x.shape[-1]
        scale = self.param("scale", nn.with_logical_partitioning(nn.initializers.ones, ("embed",)),
                           (features,), self.param_dtype)
        bias = self.param("bias", nn.with_logical_partitioning(nn.initializers.zeros, ("embed",)),
                          (features,), self.param_dtype)
        x = x.astype(jnp.float32)
        mean = x.mean(-1, keepdims=True)
        var = jnp.square(x - mean).mean(-1, keepdims=True)
        y = (x - mean) * jax.lax.rsqrt(var + self.epsilon)
        return (y * scale.astype(jnp.float32) + bias.astype(jnp.float32)).astype(self.dtype)


ATTENTION_IMPLEMENTATIONS = ("einsum", "xla", "cudnn")


def dot_product_attention(query: Array, key: Array, value: Array, mask: Array | None,
                          dropout: nn.Dropout | None = None, deterministic: bool = True,
                          implementation: str = "einsum") -> Array:
    """softmax(q k^T / sqrt(d)) v; q [B, Lq, H, D], k/v [B, Lk, H, D], mask broadcastable to [B, H, Lq, Lk].

    "einsum": our own, fp32 logits, dropout on the attention weights. "xla" / "cudnn":
    `jax.nn.dot_product_attention` (cuDNN's fused flash attention on NVIDIA GPUs, bf16/fp16 only); fused
    kernels have no attention-weight dropout, so there dropout acts only on the residual branches.
    """
    if implementation != "einsum":
        if implementation not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(f"attention implementation must be one of {ATTENTION_IMPLEMENTATIONS}, got {implementation!r}")
        if mask is not None:
            mask = jnp.broadcast_to(mask, (query.shape[0], 1, query.shape[1], key.shape[1]))
        return jax.nn.dot_product_attention(query, key, value, mask=mask, implementation=implementation)
    return einsum_attention(query, key, value, mask, dropout, deterministic)


def einsum_attention(query: Array, key: Array, value: Array, mask: Array | None, dropout: nn.Dropout | None = None,
                     deterministic: bool = True, heads_major: bool = False) -> Array:
    """The "einsum" path of `dot_product_attention`; `heads_major` keys/values are [B, H, Lk, D] (KV caches)."""
    kv = "bhkd" if heads_major else "bkhd"
    query = query / jnp.sqrt(query.shape[-1]).astype(query.dtype)
    logits = jnp.einsum(f"bqhd,{kv}->bhqk", query, key, preferred_element_type=jnp.float32)
    if mask is not None:
        logits = jnp.where(mask, logits, NEG_INF)
    weights = jax.nn.softmax(logits, axis=-1)
    if dropout is not None and not deterministic:
        weights = dropout(weights, deterministic=False)
    return jnp.einsum(f"bhqk,{kv}->bqhd", weights.astype(value.dtype), value)


class Projection(nn.Module):
    """x[..., *in] · kernel[*in, *features] over the last `in_dims` axes, e.g. embed → (heads, kv).

    The kernel is created in its full shape (flax's DenseGeneral initialises a
    flattened one, which breaks logical sharding constraints on multi-axis kernels).
    """

    features: tuple[int, ...]
    axes: tuple[str, ...]  # logical names of the kernel's axes
    in_dims: int = 1
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        n_in, n_out = self.in_dims, len(self.features)
        init = nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal", in_axis=tuple(range(n_in)),
                                                out_axis=tuple(range(n_in, n_in + n_out)))
        shape = x.shape[x.ndim - n_in:] + tuple(self.features)
        kernel = self.param("kernel", nn.with_logical_partitioning(init, self.axes), shape, self.param_dtype)
        contract = (tuple(range(x.ndim - n_in, x.ndim)), tuple(range(n_in)))
        return jax.lax.dot_general(x.astype(self.dtype), kernel.astype(self.dtype), (contract, ((), ())))


class MultiHeadAttention(nn.Module):
    """Multi-head attention; `decode=True` keeps keys/values in the `cache` collection.

    Self-attention decoding appends one position per call. Cross-attention
    (`cross=True`) projects the encoder output once, on the cache-creating call, and
    reuses it on every later step instead of re-projecting Le positions per frame.
    Caches are heads-major [B, H, L, D], the layout a one-query attention step reads
    without copying: in [B, L, H, D] every step would transpose every layer's cache.
    """

    num_heads: int
    head_dim: int
    dropout_rate: float = 0.0
    cross: bool = False
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32
    implementation: str = "einsum"  # one of ATTENTION_IMPLEMENTATIONS

    def _projection(self, features: tuple[int, ...], axes: tuple[str, ...], in_dims: int, name: str) -> Projection:
        return Projection(features, axes, in_dims, dtype=self.dtype, param_dtype=self.param_dtype, name=name)

    @nn.compact
    def __call__(self, inputs_q: Array, inputs_kv: Array, mask: Array | None, *,
                 deterministic: bool = True, decode: bool = False) -> Array:
        heads = (self.num_heads, self.head_dim)
        qkv_axes = ("embed", "heads", "kv")
        qkv_constraint = ("batch", "length", "heads", "kv")
        query = self._projection(heads, qkv_axes, 1, "query")(inputs_q)
        query = constrain(query, qkv_constraint)

        if decode and self._has_cache():
            out = self._decode_step(query, inputs_kv, mask)
        else:
            key = constrain(self._projection(heads, qkv_axes, 1, "key")(inputs_kv), qkv_constraint)
            value = constrain(self._projection(heads, qkv_axes, 1, "value")(inputs_kv), qkv_constraint)
            if decode:  # the shape-setting pass: create the caches, attend over the full length
                self._create_cache(key, value)
            dropout = nn.Dropout(self.dropout_rate) if self.dropout_rate > 0 else None
            out = dot_product_attention(query, key, value, mask, dropout, deterministic, self.implementation)
        out = self._projection((inputs_q.shape[-1],), ("heads", "kv", "embed"), 2, "out")(out)
        return constrain(out, ("batch", "length", "embed"))

    def _has_cache(self) -> bool:
        """Whether the shape-setting pass has made the cache: decode calls after it are steps."""
        return self.has_variable("cache", "cross_key" if self.cross else "cached_key")

    def _create_cache(self, key: Array, value: Array) -> None:
        """Cross-attention keeps the projected encoder output; self-attention a zero cache of the full length."""
        heads_major = lambda x: constrain(x.transpose(0, 2, 1, 3), ("batch", "heads", "length", "kv"))  # noqa: E731
        if self.cross:
            self.put_variable("cache", "cross_key", heads_major(key))
            self.put_variable("cache", "cross_value", heads_major(value))
        else:
            self.put_variable("cache", "cached_key", jnp.zeros_like(heads_major(key)))
            self.put_variable("cache", "cached_value", jnp.zeros_like(heads_major(value)))
            self.put_variable("cache", "cache_index", jnp.array(0, jnp.int32))

    def _decode_step(self, query: Array, inputs_kv: Array, mask: Array | None) -> Array:
        """Attention of one query position [B, 1, H, D] over the cache; self-attention first writes its key/value.

        Always the einsum path: a one-query step gains nothing from a fused kernel.
        """
        if query.shape[1] != 1:
            raise ValueError(f"cached decoding takes one position per call, got {query.shape[1]}")
        if self.cross:
            key, value = self.get_variable("cache", "cross_key"), self.get_variable("cache", "cross_value")
        else:
            heads = (self.num_heads, self.head_dim)
            new_key = self._projection(heads, ("embed", "heads", "kv"), 1, "key")(inputs_kv)
            new_value = self._projection(heads, ("embed", "heads", "kv"), 1, "value")(inputs_kv)
            i = self.get_variable("cache", "cache_index")
            key = jax.lax.dynamic_update_slice(self.get_variable("cache", "cached_key"),
                                               new_key.transpose(0, 2, 1, 3), (0, 0, i, 0))
            value = jax.lax.dynamic_update_slice(self.get_variable("cache", "cached_value"),
                                                 new_value.transpose(0, 2, 1, 3), (0, 0, i, 0))
            self.put_variable("cache", "cached_key", key)
            self.put_variable("cache", "cached_value", value)
            self.put_variable("cache", "cache_index", i + 1)
            mask = (jnp.arange(key.shape[2]) <= i)[None, None, None, :]
        return einsum_attention(query, key, value, mask, heads_major=True)


class Mlp(nn.Module):
    """GELU feed-forward block: embed → mlp → embed."""

    mlp_dim: int
    dropout_rate: float = 0.0
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: Array, deterministic: bool = True) -> Array:
        dtypes = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        h = Projection((self.mlp_dim,), ("embed", "mlp"), **dtypes, name="wi")(x)
        h = constrain(nn.gelu(h), ("batch", "length", "mlp"))
        h = nn.Dropout(self.dropout_rate)(h, deterministic=deterministic)
        y = Projection((x.shape[-1],), ("mlp", "embed"), **dtypes, name="wo")(h)
        return constrain(y, ("batch", "length", "embed"))
