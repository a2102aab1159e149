"""DAC's discriminator: multi-period (waveform) + multi-band multi-resolution complex-STFT sub-discriminators.

The period discriminators fold the waveform into [T/p, p] images and see periodic structure that
the mel loss blurs; the STFT ones see real and imaginary parts (phase) per frequency band, each band
with its own conv stack so that high bands are not drowned by the energetic low ones. Every
sub-discriminator returns its feature maps (for feature matching) with the logits last.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from mt_music.codecs.audio_codec import WNConv
from mt_music.codecs.audio_losses import mono, stft

Array = jax.Array
LEAKY_SLOPE = 0.1
PERIOD_CHANNEL_MULTIPLIERS = (1, 4, 16, 32, 32)  # × channels: DAC's 32, 128, 512, 1024, 1024
DEFAULT_BANDS = ((0.0, 0.1), (0.1, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0))


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig:
    """Defaults = DAC (≈ 42 M parameters); `channels` 4–8 gives a CPU-sized test discriminator."""

    periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    window_lengths: tuple[int, ...] = (2048, 1024, 512)
    hop_factor: float = 0.25
    bands: tuple[tuple[float, float], ...] = DEFAULT_BANDS  # fractions of the rfft bins
    channels: int = 32
    dtype: str = "float32"

    def __post_init__(self):
        # JSON round trips (codec specs) hand back lists; keep the config hashable.
        object.__setattr__(self, "periods", tuple(self.periods))
        object.__setattr__(self, "window_lengths", tuple(self.window_lengths))
        object.__setattr__(self, "bands", tuple((float(lo), float(hi)) for lo, hi in self.bands))


def tiny_discriminator_config(**overrides) -> DiscriminatorConfig:
    """CPU-sized (≈ 0.67 M parameters): 4 base channels, DAC's periods, windows and bands (gin: channels = 4)."""
    return DiscriminatorConfig(**{"channels": 4, **overrides})


def _leaky(x: Array) -> Array:
    return nn.leaky_relu(x, LEAKY_SLOPE)


class PeriodDiscriminator(nn.Module):
    """audio [B, T] → [B, T/p, p, C] maps: 2-D convs over time only (kernel (5, 1), stride 3)."""

    period: int
    channels: int
    dtype: str = "float32"

    @nn.compact
    def __call__(self, audio: Array) -> list[Array]:
        p = self.period
        x = jnp.pad(audio, ((0, 0), (0, -audio.shape[1] % p)), mode="reflect")
        x = x.reshape(x.shape[0], -1, p, 1)
        maps = []
        for i, multiplier in enumerate(PERIOD_CHANNEL_MULTIPLIERS):
            stride = 3 if i < len(PERIOD_CHANNEL_MULTIPLIERS) - 1 else 1
            x = WNConv(self.channels * multiplier, (5, 1), strides=(stride, 1), padding=[(2, 2), (0, 0)],
                       dtype=self.dtype, name=f"conv_{i}")(x)
            x = _leaky(x)
            maps.append(x)
        maps.append(WNConv(1, (3, 1), padding=[(1, 1), (0, 0)], dtype=self.dtype, name="conv_post")(x))
        return maps


class BandSTFTDiscriminator(nn.Module):
    """audio [B, T] → complex STFT as [B, frames, bins, 2]; a conv stack per band, concatenated along bins."""

    window_length: int
    hop_factor: float
    bands: tuple[tuple[float, float], ...]
    channels: int
    dtype: str = "float32"

    @nn.compact
    def __call__(self, audio: Array) -> list[Array]:
        spectrum = stft(audio, self.window_length, int(self.window_length * self.hop_factor), match_stride=True)
        x = jnp.stack([spectrum.real, spectrum.imag], axis=-1)
        bins = self.window_length // 2 + 1
        maps, outputs = [], []
        for b, (lo, hi) in enumerate(self.bands):
            h = x[:, :, int(lo * bins) : int(hi * bins)]
            # (time, freq) kernels: wide in frequency, strided in frequency only, so time resolution stays.
            layers = [((3, 9), (1, 1))] + [((3, 9), (1, 2))] * 3 + [((3, 3), (1, 1))]
            for i, (kernel, strides) in enumerate(layers):
                h = WNConv(self.channels, kernel, strides=strides, dtype=self.dtype, name=f"band_{b}_conv_{i}",
                           padding=[(k // 2, k // 2) for k in kernel])(h)
                h = _leaky(h)
                maps.append(h)
            outputs.append(h)
        h = jnp.concatenate(outputs, axis=2)
        maps.append(WNConv(1, (3, 3), dtype=self.dtype, name="conv_post")(h))
        return maps


class AudioDiscriminator(nn.Module):
    """audio [B, T, 1] (or [B, T]) → one list of feature maps per sub-discriminator (periods, then windows)."""

    config: DiscriminatorConfig = DiscriminatorConfig()

    @nn.compact
    def __call__(self, audio: Array) -> list[list[Array]]:
        cfg = self.config
        x = mono(audio)
        # DAC's preprocessing: remove DC and peak-normalise to 0.8, so loudness alone tells nothing.
        x = x - jnp.mean(x, axis=1, keepdims=True)
        x = 0.8 * x / (jnp.max(jnp.abs(x), axis=1, keepdims=True) + 1e-9)
        outputs = [PeriodDiscriminator(p, cfg.channels, cfg.dtype, name=f"period_{p}")(x) for p in cfg.periods]
        outputs += [BandSTFTDiscriminator(w, cfg.hop_factor, cfg.bands, cfg.channels, cfg.dtype, name=f"stft_{w}")(x)
                    for w in cfg.window_lengths]
        return outputs
