"""Note outputs (AMT, image→MIDI, transcribed audio): onset F1 with mir_eval, per piece then averaged.

The 50 ms scores are `mt_music.midi.metrics.note_f1` (onsets within 50 ms, pitch within 50 cents,
offsets within max(50 ms, 20 % of the reference duration); drums matched apart, on onsets only;
pitched instruments pooled). The tolerance sweep (`onset_f1@100ms`, …) says how far off the
misses are, which matters for generated audio, whose timing is looser than a transcriber's.

The published protocol scores each piece and then averages over pieces, so a long piece weighs
as much as a short one; pooling the counts over all notes would not (`piece_scores`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import mir_eval
import numpy as np

from mt_music.midi.metrics import F1Score, note_f1
from mt_music.midi.notes import Note

DEFAULT_TOLERANCES = (0.05, 0.1, 0.2)
NoteScorer = Callable[[Sequence[Note], Sequence[Note]], dict[str, float]]


def note_scores(reference: Sequence[Note], estimate: Sequence[Note],
                tolerances: Sequence[float] = DEFAULT_TOLERANCES) -> dict[str, float]:
    """Onset P/R/F1 and onset+offset F1 at 50 ms, plus onset F1 at each tolerance ("onset_f1@100ms")."""
    onset = note_f1(reference, estimate, with_offsets=False)
    scores = {
        "onset_f1": onset.f1,
        "onset_precision": onset.precision,
        "onset_recall": onset.recall,
        "onset_offset_f1": note_f1(reference, estimate, with_offsets=True).f1,
    }
    for tolerance in tolerances:
        scores[f"onset_f1@{round(tolerance * 1000)}ms"] = onset_f1_at(reference, estimate, tolerance).f1
    return scores


def onset_f1_at(reference: Sequence[Note], estimate: Sequence[Note], tolerance: float) -> F1Score:
    """Onset-only matching as `note_f1` does it (drums apart from pitched notes), at any tolerance.

    `note_f1` fixes the tolerance at 50 ms; this is the same matching with it as a parameter.
    """
    matched = 0
    for is_drum in (False, True):
        ref = [note for note in reference if note.is_drum == is_drum]
        est = [note for note in estimate if note.is_drum == is_drum]
        if ref and est:
            matched += len(mir_eval.transcription.match_notes(
                *_intervals_and_hz(ref), *_intervals_and_hz(est), onset_tolerance=tolerance, offset_ratio=None))
    return F1Score(len(reference), len(estimate), matched)


def _intervals_and_hz(notes: Sequence[Note]) -> tuple[np.ndarray, np.ndarray]:
    intervals = np.array([[note.start, note.end] for note in notes], dtype=float)
    return intervals, mir_eval.util.midi_to_hz(np.array([note.pitch for note in notes], dtype=float))


def piece_scores(pairs: Mapping[str, tuple[Sequence[Note], Sequence[Note]]],
                 scorer: NoteScorer = note_scores) -> dict[str, float]:
    """Mean over pieces of each per-piece score; `pairs` maps piece id → (reference, estimate).

    "pieces" is the number of pieces averaged. `scorer` may be e.g. `alignment.aligned_note_scores`.
    """
    rows = [scorer(reference, estimate) for reference, estimate in pairs.values()]
    means = {name: float(np.mean([row[name] for row in rows])) for name in (rows[0] if rows else ())}
    return {**means, "pieces": float(len(rows))}
