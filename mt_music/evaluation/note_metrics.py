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
    """Onset-only F1 at any tolerance (drums matched apart from pitched notes)."""
    return note_f1(reference, estimate, with_offsets=False, onset_tolerance=tolerance)


def piece_scores(pairs: Mapping[str, tuple[Sequence[Note], Sequence[Note]]],
                 scorer: NoteScorer = note_scores) -> dict[str, float]:
    """Mean over pieces of each per-piece score; `pairs` maps piece id → (reference, estimate).

    "pieces" is the number of pieces averaged. `scorer` may be e.g. `alignment.aligned_note_scores`.
    """
    rows = [scorer(reference, estimate) for reference, estimate in pairs.values()]
    means = {name: float(np.mean([row[name] for row in rows])) for name in (rows[0] if rows else ())}
    return {**means, "pieces": float(len(rows))}
