"""One modality of a baked system record as unified-vocabulary frames: what a system-level task reads.

A baked record (`token_records`) holds a corpus system in all four modalities: LMX text, notes,
and the image / audio codes of every shift variant. `frames(...)` renders one modality as the
encoder input (`output=False`) or the decoder target (`output=True`), with its (x, y) positions:

    lmx    the tokens (core flavour by default: extended-only tokens dropped, as OLiMPiC's core
           files do) + EOS
    midi   the notes as one MIDI-event window from the system's start + EOS; notes past the
           window are an error (the task counts the example as over the limit)
    image  one shift variant's grid; as input the grid column by column, as output a height
           frame, the columns with pad codes dropped, then EOS (vocabulary §3.5). Degraded
           copies (`image_degraded`) serve as inputs only: `image_variant_choices`
    audio  one offset variant's frames (+ EOS as output)

TensorFlow-free: records come as numpy dicts (`token_records.read` or the materialized store).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mt_music.data import features
from mt_music.image import grids
from mt_music.lmx.vocabulary import flavor_tokens
from mt_music.midi.events import encode_grid_window
from mt_music.midi.notes import Note, quantize_notes
from mt_music.vocabulary import Modality, UnifiedVocabulary

PAD_CODE = 65535  # the bake's filler for image grids smaller than a record's largest variant (token_records)


def record_notes(record: Mapping[str, Any]) -> list[Note]:
    """The system's notes (seconds from the system's start) from the record's `notes/*` columns."""
    columns = [np.asarray(record[f"notes/{name}"]) for name in ("start", "end", "pitch", "velocity", "program",
                                                               "is_drum")]
    return [Note(float(s), float(e), int(p), int(v), int(g), bool(d)) for s, e, p, v, g, d in zip(*columns)]


def lmx_tokens(record: Mapping[str, Any], flavor: str = "core") -> list[str]:
    allowed = flavor_tokens(flavor)
    return [token for token in str(record["lmx"]).split() if token in allowed]


def midi_ids(notes: list[Note], vocabulary: UnifiedVocabulary) -> list[int]:
    """Native MIDI-codec ids of one window from 0 s that the vocabulary's shift range covers."""
    codec = vocabulary.config.midi_codec
    grid_notes = quantize_notes(notes, codec.steps_per_second)
    window = codec.max_shift_steps
    if grid_notes and max(note.end_step for note in grid_notes) > window:
        raise ValueError(f"notes last {max(n.end_step for n in grid_notes) / codec.steps_per_second:.2f} s, past the "
                         f"{window / codec.steps_per_second:g} s MIDI window")
    return encode_grid_window(grid_notes, 0, window, codec)


def image_grid(record: Mapping[str, Any], variant: int) -> np.ndarray:
    """Codes [rows, cols, K] of one shift variant, the bake's padding removed."""
    rows, cols = np.asarray(record["image_grids"]).reshape(-1, 2)[variant]
    grid = np.asarray(record["image_codes"][variant, :rows, :cols], np.int32)
    if (grid == PAD_CODE).any():
        raise ValueError(f"record {record.get('id', '?')}: image variant {variant} holds bake padding inside its grid")
    return grid


def image_variant_choices(record: Mapping[str, Any], *, output: bool) -> np.ndarray:
    """The image variants a role may draw: every one as input, only the clean ones as output
    (a model must never learn to draw the scanner's noise)."""
    count = np.asarray(record["image_grids"]).reshape(-1, 2).shape[0]
    degraded = np.asarray(record.get("image_degraded", ()), np.int64).reshape(-1)[:count]
    if not output or not degraded.any():
        return np.arange(count)
    return np.flatnonzero(degraded == 0)


def frame_count(vocabulary: UnifiedVocabulary, record: Mapping[str, Any], modality: Modality, *, output: bool,
                image_variant: int = 0, audio_variant: int = 0, lmx_flavor: str = "core") -> int:
    """len(frames(...)) without rendering codec modalities: a grid of rows × cols codes takes
    rows · cols frames as input and height + codes + EOS as output; audio its frames (+ EOS)."""
    if modality is Modality.IMAGE:
        rows, cols = np.asarray(record["image_grids"]).reshape(-1, 2)[image_variant]
        return int(rows * cols) + (2 if output else 0)
    if modality is Modality.AUDIO:
        return int(np.asarray(record["audio_codes"]).shape[1]) + (1 if output else 0)
    return len(frames(vocabulary, record, modality, output=output, lmx_flavor=lmx_flavor)[0])


def frames(vocabulary: UnifiedVocabulary, record: Mapping[str, Any], modality: Modality, *, output: bool,
           image_variant: int = 0, audio_variant: int = 0, lmx_flavor: str = "core") -> tuple[np.ndarray, np.ndarray]:
    """(frames [T, K], positions [T, 2]) of one modality of a record (see the module docstring).

    For an image output the positions cover the frames before EOS (the converter's contract)."""
    if modality is Modality.LMX:
        encoded = vocabulary.encode_lmx(lmx_tokens(record, lmx_flavor))
        return encoded, features.line_positions(len(encoded))
    if modality is Modality.MIDI:
        encoded = vocabulary.encode_midi(midi_ids(record_notes(record), vocabulary))
        return encoded, features.line_positions(len(encoded))
    if modality is Modality.AUDIO:
        codes = np.asarray(record["audio_codes"][audio_variant], np.int32)
        encoded = vocabulary.encode_audio(codes, add_eos=output)
        return encoded, features.line_positions(len(encoded))
    grid = image_grid(record, image_variant)
    config = vocabulary.config.image_grid
    joined = (grids.join_systems_for_output if output else grids.join_systems_for_input)([grid], config)
    return vocabulary.encode_image(joined.frames, add_eos=output), joined.positions
