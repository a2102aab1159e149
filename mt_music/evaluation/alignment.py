"""DTW onto the reference's time axis, for outputs whose tempo is free (image→audio, LMX→audio).

A score image fixes the notes but not the tempo, so a generated performance may be right and still
miss every 50 ms onset window. Both note lists become frame features at 100 frames/s: the chroma of
the sounding notes, the chroma of recent onsets (decaying over 100 ms, so repeated notes and
chord changes leave a mark that sustained frames do not) and a silence flag. librosa's DTW finds the
cheapest monotone path between the two; each estimated time is mapped through it (the mean
reference frame of each estimated frame, linearly interpolated), so the warp is monotone and an
estimate that is only slower, faster or rubato lands on the reference's onsets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from mt_music.evaluation.note_metrics import note_scores
from mt_music.midi.notes import Note

FRAMES_PER_SECOND = 100
ONSET_DECAY_SECONDS = 0.1
# librosa keeps a few frames × frames matrices: 25 M cells is ≈ 50 s × 50 s at 100 frames/s, ~1 GB.
MAX_DTW_CELLS = 25_000_000


def align_to_reference(reference: Sequence[Note], estimate: Sequence[Note],
                       frames_per_second: int = FRAMES_PER_SECOND) -> list[Note]:
    """The estimated notes with onsets and offsets warped onto the reference's time axis.

    Raises ValueError when the DTW matrix would exceed MAX_DTW_CELLS: align windows or systems, or
    lower `frames_per_second` (at the cost of coarser onsets).
    """
    if not reference or not estimate:
        return list(estimate)
    ref_features = note_features(reference, frames_per_second)
    est_features = note_features(estimate, frames_per_second)
    cells = ref_features.shape[1] * est_features.shape[1]
    if cells > MAX_DTW_CELLS:
        raise ValueError(f"DTW over {ref_features.shape[1]} × {est_features.shape[1]} frames is {cells:,} cells "
                         f"(limit {MAX_DTW_CELLS:,}); align shorter excerpts or lower frames_per_second")
    warp = _warp_function(ref_features, est_features)

    def to_reference(seconds: float) -> float:
        return float(warp(seconds * frames_per_second)) / frames_per_second

    warped = []
    for note in estimate:
        start = to_reference(note.start)
        warped.append(dataclasses.replace(note, start=start, end=max(start, to_reference(note.end))))
    return warped


def aligned_note_scores(reference: Sequence[Note], estimate: Sequence[Note]) -> dict[str, float]:
    """`note_scores` after `align_to_reference`, every key prefixed "dtw_"."""
    scores = note_scores(reference, align_to_reference(reference, estimate))
    return {f"dtw_{name}": value for name, value in scores.items()}


def note_features(notes: Sequence[Note], frames_per_second: int = FRAMES_PER_SECOND) -> np.ndarray:
    """[25, frames] unit-norm columns: sounding chroma (12), onset chroma (12), silence (1).

    Frame k covers [k, k + 1) / frames_per_second; drums have no pitch class and are left out.
    """
    pitched = [note for note in notes if not note.is_drum]
    frames = int(np.ceil(max(note.end for note in notes) * frames_per_second)) + 2
    decay = max(1, round(ONSET_DECAY_SECONDS * frames_per_second))
    ramp = 1.0 - np.arange(decay) / decay
    features = np.zeros((25, frames))
    for note in pitched:
        first = int(np.floor(note.start * frames_per_second))
        last = max(first + 1, int(np.ceil(note.end * frames_per_second)))
        features[note.pitch % 12, first:last] = 1.0
        span = features[12 + note.pitch % 12, first:first + decay]
        np.maximum(span, ramp[: len(span)], out=span)
    features[24] = ~features[:24].any(axis=0)
    return features / np.linalg.norm(features, axis=0, keepdims=True)


def _warp_function(ref_features: np.ndarray, est_features: np.ndarray):
    """Estimated frame (float) → reference frame (float), monotone, from the DTW path."""
    import librosa.sequence  # numba-compiled; loaded only when aligning

    _, path = librosa.sequence.dtw(X=ref_features, Y=est_features, metric="euclidean")
    ref_frames, est_frames = path[::-1, 0].astype(float), path[::-1, 1]
    est_unique, first = np.unique(est_frames, return_index=True)
    mean_ref = np.add.reduceat(ref_frames, first) / np.diff(np.append(first, len(est_frames)))
    return lambda frame: np.interp(frame, est_unique, mean_ref)
