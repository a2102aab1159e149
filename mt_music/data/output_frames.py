"""A model's output frames (a prediction or a target) → the form its metrics and file writers read.

The SeqIO tasks' postprocessors (`mt_music.tasks.postprocessors`) and the decoding script share it;
TensorFlow-free. Per output modality:

    lmx    {"lmx": "measure key:fifths:0 …"}               LMX token text, EOS dropped
    midi   {"notes": [Note …], "midi_ids": […], "piece_id", "window_start"}
           notes in seconds from the piece's (or system's) start: a window's `window_start` is added,
           so windows of one piece can be stitched and scored over the whole piece
    image  {"grids": [codes [rows, cols, K] …], "issues": {…}}  one grid per system (SEP splits them)
    audio  {"codes": codes [frames, K]}

Every function also carries `repaired`: the ids that were not of the expected modality (a model's
mistakes are counted, never fatal).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from mt_music.image import grids
from mt_music.midi.events import EventDecoder
from mt_music.vocabulary import Modality, UnifiedVocabulary


def _example_field(example, name: str, default):
    if not example or name not in example:
        return default
    value = example[name]
    value = value.item() if hasattr(value, "item") and np.ndim(value) == 0 else value
    return value.decode() if isinstance(value, bytes) else value


def postprocess(frames, example=None, is_target: bool = False, *, modality: Modality,
                vocabulary: UnifiedVocabulary) -> dict:
    del is_target  # targets and predictions take the same form
    frames = np.asarray(frames, np.int64).reshape(-1, vocabulary.num_slots)
    if modality is Modality.LMX:
        tokens, repaired = vocabulary.decode_lmx(frames)
        return {"lmx": " ".join(tokens), "repaired": repaired}
    if modality is Modality.MIDI:
        native, repaired = vocabulary.decode_midi(frames)
        start = float(_example_field(example, "window_start", 0.0))
        codec = vocabulary.config.midi_codec
        decoder = EventDecoder(codec)
        decoder.decode_window(native, 0)
        notes = [dataclasses.replace(note, start=note.start + start, end=note.end + start) for note in decoder.finish()]
        return {"notes": notes, "midi_ids": native.tolist(), "piece_id": _example_field(example, "piece_id", ""),
                "window_start": start, "repaired": repaired}
    if modality is Modality.IMAGE:
        native, repaired = vocabulary.decode_image(frames)
        systems = grids.split_systems_from_output(native, vocabulary.config.image_grid)
        return {"grids": systems.grids, "issues": systems.issues, "repaired": repaired}
    codes, repaired = vocabulary.decode_audio(frames)
    return {"codes": codes, "repaired": repaired}


def for_modality(modality: Modality, vocabulary: UnifiedVocabulary | None = None):
    return functools.partial(postprocess, modality=modality, vocabulary=vocabulary or UnifiedVocabulary())
