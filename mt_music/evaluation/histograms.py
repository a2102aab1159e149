"""The published audio→image metric: earth mover's distance between token histograms.

A generated score image is read back to LMX; its pitch tokens and (separately) its duration tokens
are counted and compared with the reference's by the 1-D Wasserstein distance over an ordinal axis:

- pitch: the 70 LMX pitch tokens C0 … B9 in ascending order (the order of their MIDI numbers), one
  unit per diatonic step (C4 → D4 is 1, C4 → C5 is 7); accidentals are separate tokens, left out;
- duration: the 14 note-type tokens 1024th … maxima, shortest first, one unit per halving or
  doubling (quarter → half is 1); dots and tuplet ratios are separate tokens, left out.

An EMD is computed per (reference, prediction) pair, then averaged over pairs. A pair where one
side has no token of the kind scores the axis's span (the largest possible distance); where both
have none, 0. `random_pairing_emd` pairs the references with each other at random: the distance of
unrelated real scores, the row a model must beat.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mt_music.lmx.vocabulary import NOTE_TYPE_TOKENS, PITCH_TOKENS

AXES: dict[str, tuple[str, ...]] = {"pitch": PITCH_TOKENS, "duration": NOTE_TYPE_TOKENS}


def token_histogram_emd(references: Sequence[str], predictions: Sequence[str]) -> dict[str, float]:
    """Mean per-pair EMD of pitch and of duration token histograms: {"pitch_emd", "duration_emd"}."""
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} references but {len(predictions)} predictions; they must pair up")
    return {f"{name}_emd": _mean([histogram_emd(token_histogram(r, axis), token_histogram(p, axis))
                                  for r, p in zip(references, predictions)])
            for name, axis in AXES.items()}


def random_pairing_emd(references: Sequence[str], seed: int = 0) -> dict[str, float]:
    """`token_histogram_emd` of the references against a seeded random derangement of themselves.

    A derangement (no reference paired with itself) is one random cycle through all references, so
    a self-pair cannot pull the baseline towards 0.
    """
    if len(references) < 2:
        raise ValueError("random pairing needs at least two references")
    order = np.random.default_rng(seed).permutation(len(references))
    partner = np.empty_like(order)
    partner[order] = np.roll(order, -1)
    return token_histogram_emd(references, [references[i] for i in partner])


def token_histogram(lmx: str, axis: Sequence[str]) -> np.ndarray:
    """Counts of each token of `axis` in whitespace-separated LMX, in the axis's order."""
    index = {token: position for position, token in enumerate(axis)}
    counts = np.zeros(len(axis))
    for token in lmx.split():
        if token in index:
            counts[index[token]] += 1
    return counts


def histogram_emd(reference: np.ndarray, prediction: np.ndarray) -> float:
    """1-D Wasserstein distance between two count histograms over positions 0, 1, …, n-1."""
    from scipy.stats import wasserstein_distance

    if not reference.any() or not prediction.any():
        return 0.0 if reference.any() == prediction.any() else float(len(reference) - 1)
    positions = np.arange(len(reference), dtype=float)
    return float(wasserstein_distance(positions, positions, reference / reference.sum(),
                                      prediction / prediction.sum()))


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan
