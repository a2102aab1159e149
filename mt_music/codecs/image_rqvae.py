"""Image RQ-VAE (docs/design.md §3.3): a VQGAN-style conv autoencoder around a residual vector quantizer.

A score system [B, H, W, 1] in [-1, 1] (white = +1) becomes a grid of codes [B, H/16, W/16, K]: one
token per 16×16 px patch, K = 4 codes from unshared codebooks. There is no attention (the published
base has none): a token only has to describe the strokes in its own patch and its neighbours, and
pure convolutions keep the codec translation-equivariant, so the one-pixel shift augmentation and
any image width work without positional tricks.

The decoder output is left UNBOUNDED (linear, as in VQGAN / RQ-VAE) rather than squashed by tanh:
most target pixels sit exactly on ±1 (whitened paper, solid ink), which tanh reaches only
asymptotically, so its gradient would vanish precisely on the values we need crisp. Callers clip
to [-1, 1] when they render.
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from mt_music.codecs.quantizer import QuantizerConfig, QuantizerOutput, ResidualVectorQuantizer

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class ImageCodecConfig:
    """Defaults = the published base. Level i has channels·channel_multipliers[i] channels; every
    level but the last halves H and W, so 5 levels give 16× downsampling (one token per 16×16 px)."""

    channels: int = 128
    channel_multipliers: tuple[int, ...] = (1, 1, 2, 2, 4)
    num_res_blocks: int = 2  # per encoder level; the decoder has one more per level (VQGAN)
    z_channels: int = 256
    embed_dim: int = 256
    quantizer: QuantizerConfig = QuantizerConfig(num_codebooks=4, codebook_size=1024, kind="ema", ema_decay=0.99)
    norm_groups: int = 32  # GroupNorm uses gcd(norm_groups, channels) groups, so tiny widths still divide
    dtype: str = "float32"

    @property
    def downsampling(self) -> int:
        return 2 ** (len(self.channel_multipliers) - 1)


def tiny_image_codec_config() -> ImageCodecConfig:
    """A CPU-sized codec with the same structure (16× down, 4 codebooks), for tests and smoke runs."""
    return ImageCodecConfig(channels=16, channel_multipliers=(1, 1, 2, 2, 2), num_res_blocks=1, z_channels=32,
                            embed_dim=32, norm_groups=8,
                            quantizer=QuantizerConfig(num_codebooks=4, codebook_size=256, kind="ema"))


class _NormAct(nn.Module):
    """GroupNorm (in float32, for stable statistics under bf16) followed by swish."""

    norm_groups: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        groups = math.gcd(self.norm_groups, x.shape[-1])
        y = nn.GroupNorm(num_groups=groups, dtype=jnp.float32, name="norm")(x.astype(jnp.float32))
        return nn.swish(y).astype(self.dtype)


def _conv(features: int, kernel: int, dtype: jnp.dtype, name: str, **kwargs) -> nn.Conv:
    return nn.Conv(features, (kernel, kernel), dtype=dtype, name=name, **kwargs)


class ResBlock(nn.Module):
    """(norm, swish, 3×3 conv) × 2 plus a skip (1×1 conv when the width changes)."""

    features: int
    norm_groups: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        h = _NormAct(self.norm_groups, self.dtype, name="act1")(x)
        h = _conv(self.features, 3, self.dtype, "conv1")(h)
        h = _NormAct(self.norm_groups, self.dtype, name="act2")(h)
        h = _conv(self.features, 3, self.dtype, "conv2")(h)
        if x.shape[-1] != self.features:
            x = _conv(self.features, 1, self.dtype, "skip")(x)
        return x + h


class Encoder(nn.Module):
    """conv_in → per level: res blocks, then a stride-2 conv (not after the last) → mid → z_channels."""

    config: ImageCodecConfig

    @nn.compact
    def __call__(self, x: Array) -> Array:
        c, dtype = self.config, jnp.dtype(self.config.dtype)
        h = _conv(c.channels, 3, dtype, "conv_in")(x.astype(dtype))
        last = len(c.channel_multipliers) - 1
        for level, multiplier in enumerate(c.channel_multipliers):
            for block in range(c.num_res_blocks):
                h = ResBlock(c.channels * multiplier, c.norm_groups, dtype, name=f"down{level}_block{block}")(h)
            if level < last:  # pad right/bottom only, so output pixel i sees input pixels 2i..2i+2
                h = _conv(h.shape[-1], 3, dtype, f"down{level}_downsample", strides=(2, 2),
                          padding=((0, 1), (0, 1)))(h)
        for block in range(2):
            h = ResBlock(h.shape[-1], c.norm_groups, dtype, name=f"mid_block{block}")(h)
        h = _NormAct(c.norm_groups, dtype, name="act_out")(h)
        return _conv(c.z_channels, 3, dtype, "conv_out")(h)


class Decoder(nn.Module):
    """The encoder mirrored: conv_in → mid → per level (top first): res blocks, nearest 2× + conv → 1 channel."""

    config: ImageCodecConfig

    @nn.compact
    def __call__(self, z: Array) -> Array:
        c, dtype = self.config, jnp.dtype(self.config.dtype)
        h = _conv(c.channels * c.channel_multipliers[-1], 3, dtype, "conv_in")(z.astype(dtype))
        for block in range(2):
            h = ResBlock(h.shape[-1], c.norm_groups, dtype, name=f"mid_block{block}")(h)
        for level in reversed(range(len(c.channel_multipliers))):
            for block in range(c.num_res_blocks + 1):
                h = ResBlock(c.channels * c.channel_multipliers[level], c.norm_groups, dtype,
                             name=f"up{level}_block{block}")(h)
            if level > 0:  # nearest-neighbour upsampling + conv avoids transposed-conv checkerboards
                h = jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)
                h = _conv(h.shape[-1], 3, dtype, f"up{level}_upsample")(h)
        h = _NormAct(c.norm_groups, dtype, name="act_out")(h)
        return _conv(1, 3, dtype, "conv_out")(h).astype(jnp.float32)


class ImageRQVAE(nn.Module):
    """images [B, H, W, 1] in [-1, 1] (H, W multiples of 16) ↔ codes [B, H/16, W/16, K] int32.

    Variables: "params" (convs) and "quantizer" (EMA codebooks and usage; see quantizer.py).
    """

    config: ImageCodecConfig

    def setup(self):
        c = self.config
        dtype = jnp.dtype(c.dtype)
        self.encoder = Encoder(c)
        self.pre_quant = nn.Conv(c.embed_dim, (1, 1), dtype=dtype)
        self.quantizer = ResidualVectorQuantizer(c.quantizer)
        self.post_quant = nn.Conv(c.z_channels, (1, 1), dtype=dtype)
        self.decoder = Decoder(c)

    def _latents(self, images: Array) -> Array:
        factor = self.config.downsampling
        shape = tuple(images.shape)
        if len(shape) != 4 or shape[-1] != 1:
            raise ValueError(f"ImageRQVAE takes grayscale images [B, H, W, 1], got shape {shape}")
        if shape[1] % factor or shape[2] % factor:
            raise ValueError(f"ImageRQVAE needs H and W to be multiples of {factor} (pad white, as "
                             f"image preprocessing does), got {shape[1]}×{shape[2]}")
        return self.pre_quant(self.encoder(images)).astype(jnp.float32)

    def _reconstruct(self, quantized: Array) -> Array:
        return self.decoder(self.post_quant(quantized.astype(jnp.dtype(self.config.dtype))))

    def __call__(self, images: Array, *, train: bool = False) -> tuple[Array, QuantizerOutput]:
        """→ (reconstruction [B, H, W, 1], unbounded; QuantizerOutput with codes [B, H/16, W/16, K])."""
        q = self.quantizer(self._latents(images), train=train)
        return self._reconstruct(q.quantized), q

    def encode(self, images: Array) -> Array:
        """→ codes [B, H/16, W/16, K] int32 (eval mode: frozen codebooks)."""
        return self.quantizer.encode(self._latents(images))

    def decode(self, codes: Array) -> Array:
        """codes [B, h, w, n] (n ≤ K: the first n codebooks) → images [B, 16h, 16w, 1], unbounded."""
        if codes.ndim != 4:
            raise ValueError(f"ImageRQVAE.decode takes codes [B, h, w, n], got shape {tuple(codes.shape)}")
        return self._reconstruct(self.quantizer.decode(codes))
