"""Fréchet Audio Distance as fadtk computes it (Gui et al., ICASSP 2024), with an offline embedding.

Each set's embedding frames (all clips' frames concatenated) are fitted with one Gaussian, and
FD = |mu1 - mu2|² + Tr(S1 + S2 - 2 sqrt(S1 S2)). The square root follows fadtk: eigendecomposition
of S1 S2 (scipy's sqrtm misbehaves on near-singular products in newer versions), a 1e-6 diagonal
offset when that is not finite, an error on a non-negligible imaginary part, the real part kept.

fadtk's embeddings (VGGish, CLAP, EnCodec, …) need downloaded weights, which this project cannot
fetch, so the default here is `LogMelEmbedding` ("logmel128"): 128-band log-mel frames at the
codec's 44.1 kHz / hop 512. It measures spectral distribution (timbre, noise, loudness balance),
not musical content, and its values are not comparable with published FADs of other embeddings;
the metric key names the embedding so that figures of different embeddings never mix. Any object
with `name`, `sample_rate` and `embed(waveform) -> [frames, dims]` can be passed instead.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from mt_music.audio.io import HOP_LENGTH, SAMPLE_RATE, resample

OFFSET_EPS = 1e-6
IMAGINARY_TOLERANCE = 1e-3


@runtime_checkable
class Embedding(Protocol):
    """Frame-level audio embedding: mono waveform at `sample_rate` -> [frames, dims]."""

    name: str
    sample_rate: int

    def embed(self, waveform: np.ndarray) -> np.ndarray: ...


@dataclasses.dataclass(frozen=True)
class LogMelEmbedding:
    """log10 mel power per STFT frame (Hann window, centred, reflect-padded; Slaney mel filters).

    Needs no weights: librosa only builds the filter bank. log10(power + floor) rather than a clamp,
    so that bands a clean tone leaves empty still vary a little and the covariance stays full rank.
    """

    n_mels: int = 128
    n_fft: int = 2048
    hop_length: int = HOP_LENGTH
    sample_rate: int = SAMPLE_RATE
    floor: float = 1e-10

    @property
    def name(self) -> str:
        return f"logmel{self.n_mels}"

    def embed(self, waveform: np.ndarray) -> np.ndarray:
        audio = np.asarray(waveform, dtype=np.float64).reshape(-1)
        padded = np.pad(audio, self.n_fft // 2, mode="reflect" if len(audio) > self.n_fft // 2 else "constant")
        frames = np.lib.stride_tricks.sliding_window_view(padded, self.n_fft)[:: self.hop_length]
        hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.n_fft) / self.n_fft)  # periodic
        power = np.abs(np.fft.rfft(frames * hann, axis=-1)) ** 2
        return np.log10(power @ self._filters().T + self.floor)

    def _filters(self) -> np.ndarray:
        from librosa.filters import mel  # the light part of librosa (no numba compilation)

        return mel(sr=self.sample_rate, n_fft=self.n_fft, n_mels=self.n_mels)


def frechet_audio_distance(reference_waveforms: Sequence[np.ndarray], estimate_waveforms: Sequence[np.ndarray],
                           embedding: Embedding | None = None, sample_rate: int | None = None) -> dict[str, float]:
    """{"fad_<embedding name>": FD} between the two sets of mono waveforms.

    Waveforms are at `embedding.sample_rate` unless `sample_rate` says otherwise (then resampled).
    """
    embedding = embedding or LogMelEmbedding()
    reference = embed_set(reference_waveforms, embedding, sample_rate)
    estimate = embed_set(estimate_waveforms, embedding, sample_rate)
    return {f"fad_{embedding.name}": frechet_distance(*embedding_statistics(reference),
                                                      *embedding_statistics(estimate))}


def embed_set(waveforms: Sequence[np.ndarray], embedding: Embedding, sample_rate: int | None = None) -> np.ndarray:
    """All frames of all clips, concatenated (as fadtk pools a set): [frames, dims]."""
    rate = sample_rate or embedding.sample_rate
    if not waveforms:
        raise ValueError("FAD needs at least one waveform per set")
    return np.concatenate([embedding.embed(resample(np.asarray(w).reshape(-1), rate, embedding.sample_rate))
                           for w in waveforms])


def embedding_statistics(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64) of [frames, dims] embeddings."""
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 2 or frames.shape[0] < 2:
        raise ValueError(f"FAD needs at least two embedding frames [frames, dims]; got shape {frames.shape} "
                         "(is the audio too short?)")
    return frames.mean(axis=0), np.cov(frames, rowvar=False)


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray,
                     eps: float = OFFSET_EPS) -> float:
    """|mu1 - mu2|² + Tr(cov1 + cov2 - 2 sqrt(cov1 cov2)), fadtk's numerics (module docstring)."""
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    cov1, cov2 = np.atleast_2d(cov1), np.atleast_2d(cov2)
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape:
        raise ValueError(f"statistics differ in shape: {mu1.shape}/{cov1.shape} vs {mu2.shape}/{cov2.shape}")
    covmean = _product_sqrt(cov1, cov2)
    if not np.isfinite(covmean).all():  # product (almost) singular
        offset = np.eye(cov1.shape[0]) * eps
        covmean = linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=IMAGINARY_TOLERANCE):
            raise ValueError(f"imaginary component {np.max(np.abs(covmean.imag))} in sqrt(cov1 cov2)")
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(covmean))


def _product_sqrt(cov1: np.ndarray, cov2: np.ndarray) -> np.ndarray:
    """sqrt(cov1 cov2) by eigendecomposition (complex square roots of tiny negative eigenvalues)."""
    from numpy.lib.scimath import sqrt as complex_sqrt
    from scipy import linalg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        eigenvalues, vectors = linalg.eig(cov1 @ cov2)
        try:
            return (vectors * complex_sqrt(eigenvalues)) @ linalg.inv(vectors)
        except (linalg.LinAlgError, ValueError):  # defective product: fall back to the offset path
            return np.full_like(cov1, np.nan)
