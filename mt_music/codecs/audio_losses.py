"""Audio codec losses (DAC recipe): multi-scale mel L1, multi-resolution STFT, LSGAN, feature matching.

Audio arguments are [B, T] or [B, T, 1] (mono; a trailing channel of 1 is dropped), T ≥ the
largest window. Spectral losses sum over their scales (as DAC does) and average within a scale.
Mel filterbanks come from librosa at trace time and enter the graph as numpy constants, so no
audio library runs inside jit. The STFT is plain jnp (frame + periodic Hann + rfft).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
Features = Sequence[Sequence[Array]]  # per sub-discriminator: feature maps, last = logits

MEL_WINDOW_LENGTHS = (32, 64, 128, 256, 512, 1024, 2048)
MEL_BANDS = (5, 10, 20, 40, 80, 160, 320)
STFT_WINDOW_LENGTHS = (2048, 512)
_POWER_FLOOR = 1e-14  # keeps sqrt differentiable at exact silence; far below every clamp used here


def mono(audio: Array) -> Array:
    """[B, T, 1] or [B, T] → [B, T] (float32)."""
    if audio.ndim == 3 and audio.shape[-1] == 1:
        audio = audio[..., 0]
    if audio.ndim != 2:
        raise ValueError(f"audio must be [B, T] or [B, T, 1], got {audio.shape}")
    return audio.astype(jnp.float32)


@functools.cache
def hann_window(length: int) -> np.ndarray:
    """Periodic Hann (scipy/torch default for spectral analysis): overlap-adds flat at hop = length/4."""
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)).astype(np.float32)
    window.setflags(write=False)  # cached and shared
    return window


def stft(audio: Array, window_length: int, hop_length: int, *, match_stride: bool = False) -> Array:
    """Complex STFT [B, frames, window_length//2 + 1] of audio [B, T] (or [B, T, 1]).

    match_stride=False: reflect-pad window/2 per side (torch `center=True`): 1 + T//hop frames.
    match_stride=True: reflect-pad (window - hop)/2 per side: exactly T/hop frames for T a multiple
    of hop, one per hop-sized block (what the discriminator uses, as DAC does).
    Framing is slicing, not a gather (window must be a multiple of hop), which is cheap on accelerators.
    """
    x = mono(audio)
    if window_length % hop_length:
        raise ValueError(f"window {window_length} must be a multiple of hop {hop_length}")
    pad = (window_length - hop_length) // 2 if match_stride else window_length // 2
    x = jnp.pad(x, ((0, 0), (pad, pad)), mode="reflect")
    ratio = window_length // hop_length
    frames = 1 + (x.shape[1] - window_length) // hop_length
    blocks = x[:, : (frames + ratio - 1) * hop_length].reshape(x.shape[0], frames + ratio - 1, hop_length)
    framed = jnp.concatenate([blocks[:, j : j + frames] for j in range(ratio)], axis=-1)
    return jnp.fft.rfft(framed * hann_window(window_length), axis=-1)


def magnitude(spectrum: Array) -> Array:
    return jnp.sqrt(jnp.maximum(spectrum.real**2 + spectrum.imag**2, _POWER_FLOOR))


@functools.cache
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0,
                   fmax: float | None = None) -> np.ndarray:
    """[n_fft//2 + 1, n_mels] Slaney mel filters (librosa's default, as DAC uses)."""
    import librosa  # slow import; only needed while tracing

    with warnings.catch_warnings():  # the 32-sample window has empty low bands; DAC accepts that too
        warnings.simplefilter("ignore")
        filters = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    filters = np.ascontiguousarray(filters.T, dtype=np.float32)
    filters.setflags(write=False)  # cached and shared
    return filters


def _log10_clamped(x: Array, eps: float) -> Array:
    return jnp.log10(jnp.maximum(x, eps))


def multi_scale_mel_loss(x: Array, y: Array, sample_rate: int, *,
                         window_lengths: Sequence[int] = MEL_WINDOW_LENGTHS, n_mels: Sequence[int] = MEL_BANDS,
                         fmin: float = 0.0, fmax: float | None = None, clamp_eps: float = 1e-5) -> Array:
    """Σ over scales of mean |log10 max(mel(x), ε) − log10 max(mel(y), ε)|; hop = window/4.

    DAC's main reconstruction term (weight 15): the short windows pin transients, the long ones pitch.
    """
    if len(window_lengths) != len(n_mels):
        raise ValueError("window_lengths and n_mels must have the same length")
    loss = jnp.zeros((), jnp.float32)
    for window, bands in zip(window_lengths, n_mels):
        filters = mel_filterbank(sample_rate, window, bands, fmin, fmax)
        mel_x = magnitude(stft(x, window, window // 4)) @ filters
        mel_y = magnitude(stft(y, window, window // 4)) @ filters
        loss += jnp.mean(jnp.abs(_log10_clamped(mel_x, clamp_eps) - _log10_clamped(mel_y, clamp_eps)))
    return loss


def multi_resolution_stft_loss(x: Array, y: Array, *, window_lengths: Sequence[int] = STFT_WINDOW_LENGTHS,
                               clamp_eps: float = 1e-5, log_weight: float = 1.0, magnitude_weight: float = 1.0,
                               power: float = 2.0) -> Array:
    """Σ over windows of log-magnitude L1 (log10 max(|X|, ε)^power) + linear-magnitude L1; hop = window/4.

    The linear term weighs loud partials, the log term quiet detail (DDSP's spectral loss).
    """
    loss = jnp.zeros((), jnp.float32)
    for window in window_lengths:
        mag_x = magnitude(stft(x, window, window // 4))
        mag_y = magnitude(stft(y, window, window // 4))
        log_x = power * _log10_clamped(mag_x, clamp_eps)
        log_y = power * _log10_clamped(mag_y, clamp_eps)
        loss += log_weight * jnp.mean(jnp.abs(log_x - log_y)) + magnitude_weight * jnp.mean(jnp.abs(mag_x - mag_y))
    return loss


def discriminator_loss(real: Features, fake: Features) -> Array:
    """LSGAN: Σ_d mean((1 − D(real))²) + mean(D(fake)²). Stop gradients into `fake` at the call site."""
    loss = jnp.zeros((), jnp.float32)
    for real_maps, fake_maps in zip(real, fake, strict=True):
        loss += jnp.mean((1.0 - real_maps[-1].astype(jnp.float32)) ** 2)
        loss += jnp.mean(fake_maps[-1].astype(jnp.float32) ** 2)
    return loss


def generator_adversarial_loss(fake: Features) -> Array:
    """LSGAN generator term: Σ_d mean((1 − D(fake))²)."""
    loss = jnp.zeros((), jnp.float32)
    for fake_maps in fake:
        loss += jnp.mean((1.0 - fake_maps[-1].astype(jnp.float32)) ** 2)
    return loss


def feature_matching_loss(real: Features, fake: Features) -> Array:
    """Σ_d Σ_layers mean |D_l(fake) − D_l(real)| over every map but the logits; real maps are constants."""
    loss = jnp.zeros((), jnp.float32)
    for real_maps, fake_maps in zip(real, fake, strict=True):
        for r, f in zip(real_maps[:-1], fake_maps[:-1], strict=True):
            loss += jnp.mean(jnp.abs(f.astype(jnp.float32) - jax.lax.stop_gradient(r).astype(jnp.float32)))
    return loss
