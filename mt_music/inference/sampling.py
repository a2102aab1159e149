"""The published decoding per output modality (docs/design.md §5.4): greedy for LMX, top-p 0.9 at
temperature 0.1 for MIDI, temperature 1.0 for image and audio codes. Evaluation and decoding share it."""

from __future__ import annotations

from mt_music.vocabulary import Modality

DEFAULTS = {
    Modality.LMX: {"temperature": 0.0, "top_p": 1.0},
    Modality.MIDI: {"temperature": 0.1, "top_p": 0.9},
    Modality.IMAGE: {"temperature": 1.0, "top_p": 1.0},
    Modality.AUDIO: {"temperature": 1.0, "top_p": 1.0},
}


def per_modality(setting: str) -> tuple[float, ...]:
    """One value per output modality, in Modality order (what `predict_batch` takes)."""
    return tuple(DEFAULTS[modality][setting] for modality in Modality)
