"""Evaluation metrics of docs/design.md §8: pure functions, no TensorFlow, SeqIO or JAX.

    from mt_music.evaluation import lmx_scores, note_scores, piece_scores, aligned_note_scores
    lmx_scores(gold_lmx, predicted_lmx)        # {"ser", "ser_no_tuplets", "valid_musicxml", ...}
    piece_scores({"piece": (ref_notes, est_notes)})  # per-piece note F1, then the mean over pieces

Modules, one concern each: `lmx_metrics` (SER, delinearizability), `note_metrics` (onset F1 at
50/100/200 ms, per-piece means), `alignment` (DTW onto the reference's time axis, for outputs whose
tempo is free), `histograms` (pitch / duration token EMD, the audio→image metric), `fad`
(Fréchet Audio Distance and its offline embedding). Every function returns dict[str, float].

Names are loaded on first use, so importing the package costs nothing (mir_eval, scipy and
librosa load with the module that needs them).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mt_music.evaluation.alignment import align_to_reference, aligned_note_scores
    from mt_music.evaluation.fad import Embedding, LogMelEmbedding, frechet_audio_distance, frechet_distance
    from mt_music.evaluation.histograms import random_pairing_emd, token_histogram_emd
    from mt_music.evaluation.lmx_metrics import lmx_scores
    from mt_music.evaluation.note_metrics import note_scores, piece_scores

_LAZY = {
    "align_to_reference": "alignment", "aligned_note_scores": "alignment",
    "Embedding": "fad", "LogMelEmbedding": "fad", "frechet_audio_distance": "fad", "frechet_distance": "fad",
    "random_pairing_emd": "histograms", "token_histogram_emd": "histograms",
    "lmx_scores": "lmx_metrics",
    "note_scores": "note_metrics", "piece_scores": "note_metrics",
}
__all__ = [
    "Embedding", "LogMelEmbedding", "align_to_reference", "aligned_note_scores", "frechet_audio_distance",
    "frechet_distance", "lmx_scores", "note_scores", "piece_scores", "random_pairing_emd", "token_histogram_emd",
]
assert sorted(__all__) == sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"mt_music.evaluation.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
