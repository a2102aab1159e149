"""The encoder–decoder Transformer over K-slot frames (docs/design.md §4).

One token table embeds every modality: a frame's embedding is the SUM of its
non-PAD slot embeddings. Positions come from ONE learned table split into index
ranges — an x range per modality (LMX, MIDI, image columns, audio frames) and an
image-row range for y — and a position embeds as E[x] + E[y] (y = 0 adds nothing).
Out-of-range positions are clipped to the last index of their range, so over-long
inputs degrade instead of failing. A learned target-modality vector is added to
every encoder position so one encoder serves all directions.

The RVQ sub-decoder turns each decoder state h_t into K slot predictions with one
causal layer over the slots: slot 0 sees h_t, slot k sees h_t + emb(token_{t,k-1}).
Its output projection is NOT tied to the input table: the input rows are summed
over slots (and may be initialised from codec codebooks) while the output is a
per-slot classifier, and untied projections are what T5 v1.1 found better; the
cost is V·D parameters (~10 M of the ~0.39 B in `base`).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mt_music.model import layers
from mt_music.vocabulary import Modality, UnifiedVocabulary

Array = jax.Array

REMAT_POLICIES = {
    "none": None,
    "full": jax.checkpoint_policies.nothing_saveable,
    "minimal": jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims,
}


def padded_vocab_size(vocabulary: UnifiedVocabulary | None = None, multiple: int = 128) -> int:
    """Embedding rows for a vocabulary, rounded up to tile well (gin: @network.padded_vocab_size())."""
    return (vocabulary or UnifiedVocabulary()).padded_vocab_size(multiple)


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """Architecture hyper-parameters; the defaults are the published `base` model."""

    vocab_size: int = dataclasses.field(default_factory=padded_vocab_size)
    num_slots: int = 4
    emb_dim: int = 1024
    num_heads: int = 16
    head_dim: int = 64
    mlp_dim: int = 4096
    num_encoder_layers: int = 12
    num_decoder_layers: int = 12
    sub_decoder_heads: int = 8
    dropout_rate: float = 0.1
    dtype: str = "bfloat16"  # activations / matmuls
    param_dtype: str = "float32"
    remat_policy: str = "none"  # one of REMAT_POLICIES, applied per layer
    # nn.scan over each stack's layers: one compiled layer body, params stacked [L, ...] on a "layers" axis;
    # mt_music.model.layer_stacks converts checkpoints between the two layouts.
    scan_layers: bool = False
    attention: str = "einsum"  # layers.ATTENTION_IMPLEMENTATIONS: einsum, xla, cudnn (fused, NVIDIA GPUs)
    # Position table ranges (x per modality, then image rows for y).
    max_lmx_positions: int = 1024
    max_midi_positions: int = 1024
    max_image_columns: int = 160
    max_audio_frames: int = 1800
    max_image_rows: int = 27  # y = row + 1 for rows 0..25; y = 0 is the zero vector

    def __post_init__(self):
        if self.attention not in layers.ATTENTION_IMPLEMENTATIONS:
            raise ValueError(f"attention must be one of {layers.ATTENTION_IMPLEMENTATIONS}, got {self.attention!r}")
        if self.remat_policy not in REMAT_POLICIES:
            raise ValueError(f"remat_policy must be one of {sorted(REMAT_POLICIES)}, got {self.remat_policy!r}")
        if self.emb_dim % self.sub_decoder_heads:
            raise ValueError(f"emb_dim {self.emb_dim} is not divisible by sub_decoder_heads {self.sub_decoder_heads}")
        for name in ("dtype", "param_dtype"):
            jnp.dtype(getattr(self, name))  # raises on an unknown name

    @property
    def x_ranges(self) -> tuple[int, ...]:
        """Sizes of the x ranges, indexed by Modality."""
        sizes = {Modality.LMX: self.max_lmx_positions, Modality.MIDI: self.max_midi_positions,
                 Modality.IMAGE: self.max_image_columns, Modality.AUDIO: self.max_audio_frames}
        return tuple(sizes[m] for m in Modality)

    @property
    def num_positions(self) -> int:
        return sum(self.x_ranges) + self.max_image_rows


def _dtypes(config: TransformerConfig) -> dict:
    return dict(dtype=jnp.dtype(config.dtype), param_dtype=jnp.dtype(config.param_dtype))


def _remat(layer_cls: type[nn.Module], config: TransformerConfig, static_argnums: tuple[int, ...]) -> type[nn.Module]:
    if config.remat_policy == "none":
        return layer_cls
    # Under scan the loop already keeps XLA from merging the recomputation away (prevent_cse only costs).
    return nn.remat(layer_cls, policy=REMAT_POLICIES[config.remat_policy], static_argnums=static_argnums,
                    prevent_cse=not config.scan_layers)


def _scanned(layer_cls: type[nn.Module], config: TransformerConfig, length: int, static_argnums: tuple[int, ...],
             num_broadcast: int) -> type[nn.Module]:
    """`length` layers as one nn.scan: params and KV caches stacked on a leading "layers" axis, inputs but the
    carried activations broadcast, a fresh dropout key per layer."""
    return nn.scan(_remat(layer_cls, config, static_argnums), variable_axes={"params": 0, "cache": 0},
                   split_rngs={"params": True, "dropout": True}, in_axes=(nn.broadcast,) * num_broadcast,
                   length=length, metadata_params={nn.PARTITION_NAME: "layers"})


# Parameter names the network reads in fp32 whatever the compute dtype: LayerNorm's scale and bias.
_FULL_PRECISION_PARAMS = ("scale", "bias")


def params_in_compute_dtype(params, config: TransformerConfig):
    """Every kernel and embedding table cast to the compute dtype, as each use would cast it.

    The network gives the same outputs with either copy. Decoding casts once before its loop: XLA does not
    hoist the casts out of a while loop, so fp32 params with bf16 compute would otherwise be read in fp32
    and converted at every step (the token table too, for a gather of a few rows).
    """
    dtype = jnp.dtype(config.dtype)

    def cast(path, leaf):
        name = getattr(path[-1], "key", None)
        keep = name in _FULL_PRECISION_PARAMS or not jnp.issubdtype(leaf.dtype, jnp.floating)
        return leaf if keep else leaf.astype(dtype)

    return jax.tree_util.tree_map_with_path(cast, params)


class PositionEmbedding(nn.Module):
    """E[x] + E[y] from one table; x indexes the range of the sequence's modality."""

    config: TransformerConfig

    @nn.compact
    def __call__(self, positions: Array, modality: Array) -> Array:
        cfg = self.config
        table = self.param("embedding",
                           nn.with_logical_partitioning(nn.initializers.normal(1.0), ("abspos_buckets", "embed")),
                           (cfg.num_positions, cfg.emb_dim), jnp.dtype(cfg.param_dtype))
        sizes = np.array(cfg.x_ranges, np.int32)
        starts = jnp.asarray(np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32))
        x, y = positions[..., 0], positions[..., 1]
        x_index = starts[modality][:, None] + jnp.clip(x, 0, jnp.asarray(sizes)[modality][:, None] - 1)
        y_index = int(sizes.sum()) + jnp.clip(y, 0, cfg.max_image_rows - 1)
        # Gathered whole before the lookup (FSDP shards embed): rows then follow the batch sharding.
        table = layers.constrain(table.astype(cfg.dtype), ("abspos_buckets", None))
        return jnp.take(table, x_index, axis=0) + jnp.take(table, y_index, axis=0) * (y > 0)[..., None]


class SelfAttentionLayer(nn.Module):
    """Pre-LN self-attention + MLP: an encoder layer, and the sub-decoder's layer."""

    config: TransformerConfig
    num_heads: int
    head_dim: int
    scanned: bool = False  # return (x, None), the carry and output nn.scan expects

    @nn.compact
    def __call__(self, x: Array, mask: Array | None, deterministic: bool,
                 decode: bool = False) -> Array | tuple[Array, None]:
        cfg = self.config
        h = layers.LayerNorm(**_dtypes(cfg), name="pre_attention_norm")(x)
        h = layers.MultiHeadAttention(self.num_heads, self.head_dim, cfg.dropout_rate, **_dtypes(cfg),
                                      implementation=cfg.attention, name="attention")(
            h, h, mask, deterministic=deterministic, decode=decode)
        x = x + nn.Dropout(cfg.dropout_rate)(h, deterministic=deterministic)
        h = layers.LayerNorm(**_dtypes(cfg), name="pre_mlp_norm")(x)
        h = layers.Mlp(cfg.mlp_dim, cfg.dropout_rate, **_dtypes(cfg), name="mlp")(h, deterministic)
        x = x + nn.Dropout(cfg.dropout_rate)(h, deterministic=deterministic)
        x = layers.constrain(x, ("batch", "length", "embed"))
        return (x, None) if self.scanned else x


class DecoderLayer(nn.Module):
    """Pre-LN causal self-attention + cross-attention + MLP."""

    config: TransformerConfig
    scanned: bool = False  # return (x, None), the carry and output nn.scan expects

    @nn.compact
    def __call__(self, x: Array, encoded: Array, self_mask: Array | None, cross_mask: Array,
                 deterministic: bool, decode: bool) -> Array | tuple[Array, None]:
        cfg = self.config
        attention = dict(num_heads=cfg.num_heads, head_dim=cfg.head_dim, dropout_rate=cfg.dropout_rate,
                         implementation=cfg.attention, **_dtypes(cfg))
        h = layers.LayerNorm(**_dtypes(cfg), name="pre_self_attention_norm")(x)
        h = layers.MultiHeadAttention(**attention, name="self_attention")(
            h, h, self_mask, deterministic=deterministic, decode=decode)
        x = x + nn.Dropout(cfg.dropout_rate)(h, deterministic=deterministic)
        h = layers.LayerNorm(**_dtypes(cfg), name="pre_cross_attention_norm")(x)
        h = layers.MultiHeadAttention(**attention, cross=True, name="cross_attention")(
            h, encoded, cross_mask, deterministic=deterministic, decode=decode)
        x = x + nn.Dropout(cfg.dropout_rate)(h, deterministic=deterministic)
        h = layers.LayerNorm(**_dtypes(cfg), name="pre_mlp_norm")(x)
        h = layers.Mlp(cfg.mlp_dim, cfg.dropout_rate, **_dtypes(cfg), name="mlp")(h, deterministic)
        x = x + nn.Dropout(cfg.dropout_rate)(h, deterministic=deterministic)
        x = layers.constrain(x, ("batch", "length", "embed"))
        return (x, None) if self.scanned else x


class Encoder(nn.Module):
    config: TransformerConfig

    @nn.compact
    def __call__(self, x: Array, mask: Array, deterministic: bool) -> Array:
        cfg = self.config
        x = nn.Dropout(cfg.dropout_rate)(x, deterministic=deterministic)
        if cfg.scan_layers:
            stack = _scanned(SelfAttentionLayer, cfg, cfg.num_encoder_layers, static_argnums=(3,), num_broadcast=2)
            x, _ = stack(cfg, cfg.num_heads, cfg.head_dim, scanned=True, name="layers")(x, mask, deterministic)
        else:
            layer = _remat(SelfAttentionLayer, cfg, static_argnums=(3,))
            for i in range(cfg.num_encoder_layers):
                x = layer(cfg, cfg.num_heads, cfg.head_dim, name=f"layers_{i}")(x, mask, deterministic)
        x = layers.LayerNorm(**_dtypes(cfg), name="encoder_norm")(x)
        return nn.Dropout(cfg.dropout_rate)(x, deterministic=deterministic)


class Decoder(nn.Module):
    config: TransformerConfig

    @nn.compact
    def __call__(self, x: Array, encoded: Array, self_mask: Array | None, cross_mask: Array,
                 deterministic: bool, decode: bool) -> Array:
        cfg = self.config
        x = nn.Dropout(cfg.dropout_rate)(x, deterministic=deterministic)
        if cfg.scan_layers:
            stack = _scanned(DecoderLayer, cfg, cfg.num_decoder_layers, static_argnums=(5, 6), num_broadcast=5)
            x, _ = stack(cfg, scanned=True, name="layers")(x, encoded, self_mask, cross_mask, deterministic, decode)
        else:
            layer = _remat(DecoderLayer, cfg, static_argnums=(5, 6))
            for i in range(cfg.num_decoder_layers):
                x = layer(cfg, name=f"layers_{i}")(x, encoded, self_mask, cross_mask, deterministic, decode)
        x = layers.LayerNorm(**_dtypes(cfg), name="decoder_norm")(x)
        return nn.Dropout(cfg.dropout_rate)(x, deterministic=deterministic)


class SubDecoder(nn.Module):
    """One causal layer over the K slots of each frame, then the shared D→V projection.

    Training runs the layer over all K slots of every frame at once. Decoding picks the slots one by one,
    so `step` feeds one slot per call through a K-long KV cache (the `cache` collection, fresh for every
    frame): a frame costs K one-position passes instead of K passes over all K slots.
    """

    config: TransformerConfig

    def setup(self):
        cfg = self.config
        self.slot_embedding = self.param(
            "slot_embedding", nn.with_logical_partitioning(nn.initializers.zeros, ("slots", "embed")),
            (cfg.num_slots, cfg.emb_dim), jnp.dtype(cfg.param_dtype))
        heads = cfg.sub_decoder_heads
        self.layer = SelfAttentionLayer(cfg, heads, cfg.emb_dim // heads)
        self.norm = layers.LayerNorm(**_dtypes(cfg))
        self.logits_kernel = self.param(
            "logits_kernel", nn.with_logical_partitioning(layers.DENSE_INIT, ("embed", "vocab")),
            (cfg.emb_dim, cfg.vocab_size), jnp.dtype(cfg.param_dtype))

    def __call__(self, hidden: Array, previous: Array, deterministic: bool, decode: bool = False) -> Array:
        """hidden [B, L, D], previous = emb(token_{k-1}) [B, L, K-1, D] → fp32 logits [B, L, K, V].

        `decode=True` (L = 1) also creates the zero slot cache that `step` fills.
        """
        cfg = self.config
        batch, length, dim = hidden.shape
        k = cfg.num_slots
        previous = jnp.concatenate([jnp.zeros_like(previous[:, :, :1]), previous], axis=2)
        x = hidden[:, :, None] + previous + self.slot_embedding.astype(cfg.dtype)
        x = layers.constrain(x, ("batch", "length", "slots", "embed"))
        # Frames become the batch of a length-K sequence: [B·L, K, D].
        x = self.layer(x.reshape(batch * length, k, dim), layers.causal_mask(k), deterministic, decode)
        x = self.norm(x).reshape(batch, length, k, dim)
        return self._logits(x, ("batch", "length", "slots", "vocab"))

    def step(self, hidden: Array, previous: Array, slot: int) -> Array:
        """fp32 logits [B, V] of `slot` for one frame per example, in decoding order.

        hidden [B, 1, D]; previous = emb(token_{slot-1}) [B, 1, D] (zeros for slot 0). The slot cache holds
        the frame's earlier slots: start each frame from the cache `__call__(..., decode=True)` made.
        """
        x = hidden + previous + self.slot_embedding[slot].astype(self.config.dtype)
        x = self.norm(self.layer(x, None, True, True))
        return self._logits(x[:, 0], ("batch", "vocab"))

    def _logits(self, x: Array, axes: tuple[str, ...]) -> Array:
        kernel = self.logits_kernel.astype(self.config.dtype)
        logits = jnp.einsum("...d,dv->...v", x, kernel, preferred_element_type=jnp.float32)
        return layers.constrain(logits, axes)


class Transformer(nn.Module):
    """Encoder–decoder over K-slot frames; `__call__` gives teacher-forced logits [B, Ld, K, V].

    Methods `encode`, `decode` (with `decode=True` for the KV cache), `sub_decode` and `sub_decode_step`
    are the pieces decoding calls through `module.apply(..., method=...)`.
    `logit_mask` is the vocabulary's bool [4, K, V] table; rows of the target
    modality are applied to the logits (masked entries get a large negative value).
    """

    config: TransformerConfig

    def setup(self):
        cfg = self.config
        self.token_embedder = nn.Embed(
            cfg.vocab_size, cfg.emb_dim, **_dtypes(cfg), name="token_embedder",
            embedding_init=nn.with_logical_partitioning(nn.initializers.normal(1.0), ("vocab", "embed")))
        self.modality_embedder = nn.Embed(
            len(Modality), cfg.emb_dim, **_dtypes(cfg), name="modality_embedder",
            embedding_init=nn.with_logical_partitioning(nn.initializers.normal(1.0), ("modalities", "embed")))
        self.position_embedder = PositionEmbedding(cfg, name="position_embedder")
        self.encoder = Encoder(cfg, name="encoder")
        self.decoder = Decoder(cfg, name="decoder")
        self.sub_decoder = SubDecoder(cfg, name="sub_decoder")

    def _slot_embeddings(self, tokens: Array) -> Array:
        """[..., K] ids → [..., K, D]; PAD slots embed to zero."""
        # The table is gathered whole along embed before the lookup (as for positions).
        table = layers.constrain(jnp.asarray(self.token_embedder.embedding, self.config.dtype), ("vocab", None))
        return jnp.take(table, tokens, axis=0) * (tokens != 0)[..., None].astype(self.config.dtype)

    def _embed_frames(self, tokens: Array, positions: Array, modality: Array) -> Array:
        x = self._slot_embeddings(tokens).sum(axis=-2) + self.position_embedder(positions, modality)
        return layers.constrain(x, ("batch", "length", "embed"))

    def encode(self, encoder_input_tokens: Array, encoder_positions: Array, encoder_modality: Array,
               decoder_modality: Array, enable_dropout: bool = False) -> Array:
        x = self._embed_frames(encoder_input_tokens, encoder_positions, encoder_modality)
        x = x + self.modality_embedder(decoder_modality)[:, None]
        valid = encoder_input_tokens[..., 0] != 0
        return self.encoder(x, layers.attention_mask(valid, valid), not enable_dropout)

    def decode(self, encoded: Array, encoder_input_tokens: Array, decoder_input_tokens: Array,
               decoder_positions: Array, decoder_modality: Array, decoder_target_tokens: Array | None = None,
               enable_dropout: bool = False, decode: bool = False) -> Array:
        """Decoder states [B, Ld, D]. Padding (PAD targets) is masked when targets are given."""
        x = self._embed_frames(decoder_input_tokens, decoder_positions, decoder_modality)
        encoder_valid = encoder_input_tokens[..., 0] != 0
        if decoder_target_tokens is None:
            query_valid = jnp.ones(decoder_input_tokens.shape[:2], bool)
        else:
            query_valid = decoder_target_tokens[..., 0] != 0
        self_mask = None
        if not decode:
            self_mask = layers.causal_mask(x.shape[1]) & layers.attention_mask(query_valid, query_valid)
        cross_mask = layers.attention_mask(query_valid, encoder_valid)
        return self.decoder(x, encoded, self_mask, cross_mask, not enable_dropout, decode)

    def sub_decode(self, hidden: Array, slot_tokens: Array, decoder_modality: Array,
                   logit_mask: Array | None = None, enable_dropout: bool = False, decode: bool = False) -> Array:
        """Slot logits given the frame's tokens (teacher forcing: slot k sees slot_tokens[..., k-1]).

        `decode=True` with the `cache` collection mutable also creates the slot cache for `sub_decode_step`.
        """
        previous = self._slot_embeddings(slot_tokens[..., :-1])
        logits = self.sub_decoder(hidden, previous, not enable_dropout, decode)
        return self._mask_logits(logits, decoder_modality, logit_mask)

    def sub_decode_step(self, hidden: Array, previous_ids: Array, decoder_modality: Array,
                        logit_mask: Array | None, slot: int) -> Array:
        """Masked logits [B, V] of `slot` while decoding one frame [B, 1, D]; previous_ids [B] = the frame's
        id in slot - 1 (unused for slot 0). Runs with the `cache` collection mutable (see SubDecoder.step)."""
        previous = self._slot_embeddings(previous_ids[:, None]) if slot else jnp.zeros_like(hidden)
        return self._mask_logits(self.sub_decoder.step(hidden, previous, slot), decoder_modality, logit_mask, slot)

    def _mask_logits(self, logits: Array, decoder_modality: Array, logit_mask: Array | None,
                     slot: int | None = None) -> Array:
        """The target modality's rows of the logit mask applied: logits [B, ..., K, V], or [B, V] of one `slot`."""
        if logit_mask is None:
            return logits
        if logit_mask.shape[-1] != self.config.vocab_size:
            raise ValueError(f"logit_mask has {logit_mask.shape[-1]} ids, the model {self.config.vocab_size}")
        rows = jnp.asarray(logit_mask)[decoder_modality]  # [B, K, V]
        if slot is not None:
            rows = rows[:, slot]
        rows = rows.reshape(rows.shape[:1] + (1,) * (logits.ndim - rows.ndim) + rows.shape[1:])
        return jnp.where(rows, logits, layers.NEG_INF)

    def __call__(self, encoder_input_tokens: Array, encoder_positions: Array, encoder_modality: Array,
                 decoder_input_tokens: Array, decoder_target_tokens: Array, decoder_positions: Array,
                 decoder_modality: Array, logit_mask: Array | None = None, enable_dropout: bool = False) -> Array:
        encoded = self.encode(encoder_input_tokens, encoder_positions, encoder_modality, decoder_modality,
                              enable_dropout)
        hidden = self.decode(encoded, encoder_input_tokens, decoder_input_tokens, decoder_positions,
                             decoder_modality, decoder_target_tokens, enable_dropout)
        return self.sub_decode(hidden, decoder_target_tokens, decoder_modality, logit_mask, enable_dropout)
