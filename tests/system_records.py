"""Small baked-system records (numpy, the layout of `token_records.read`) for the task-layer tests."""

from __future__ import annotations

import numpy as np

from mt_music.midi.notes import Note

PAD_CODE = 65535
NOTES = [Note(0.0, 0.504, 60, 80), Note(0.5, 1.0, 64, 70, program=41), Note(1.2, 1.25, 36, 100, is_drum=True)]
LMX = "measure key:fifths:0 time beats:4 beat-type:4 clef:G2 G4 quarter staccato stem:up"


def record(seed: int = 0, *, columns: int = 5, frames: int = 40, lmx: str = LMX, notes=NOTES) -> dict:
    """Two image shift variants (the second one column narrower) and three audio offset variants."""
    rng = np.random.default_rng(seed)
    image = np.full((2, 3, columns, 4), PAD_CODE, np.int64)
    image[0] = rng.integers(0, 1024, (3, columns, 4))
    image[1, :, : columns - 1] = rng.integers(0, 1024, (3, columns - 1, 4))
    note_columns = {name: np.array([getattr(n, name) for n in notes]) for name in ("start", "end", "pitch", "velocity",
                                                                                  "program", "is_drum")}
    return {"id": f"piece{seed}/0/1", "lmx": lmx, "image_codes": image,
            "image_grids": np.array([[3, columns], [3, columns - 1]]),
            "audio_codes": rng.integers(0, 1024, (3, frames, 4)), **{f"notes/{k}": v for k, v in note_columns.items()}}


def piece_record(seed: int = 0, *, seconds: float = 3.5, variants: int = 2) -> dict:
    """A baked piece: audio codes of the whole performance (86.13 frames/s) and notes all through it,
    some sounding across the 1 s window edges; no image."""
    rng = np.random.default_rng(seed)
    frames = int(np.ceil(seconds * 44100 / 512))
    starts = np.round(np.arange(0.05, seconds - 0.4, 0.3), 2)
    notes = [Note(float(s), float(s) + (0.8 if i % 3 == 0 else 0.2), 55 + (i * 7) % 24, 60 + i % 40)
             for i, s in enumerate(starts)]
    note_columns = {name: np.array([getattr(n, name) for n in notes]) for name in ("start", "end", "pitch", "velocity",
                                                                                  "program", "is_drum")}
    return {"id": f"piece{seed}/0", "lmx": LMX, "image_codes": np.zeros((0, 0, 0, 0), np.int64),
            "image_grids": np.zeros((0, 2), np.int64), "audio_codes": rng.integers(0, 1024, (variants, frames, 4)),
            **{f"notes/{k}": v for k, v in note_columns.items()}}
