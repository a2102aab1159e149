"""MIDI as MT3-style event tokens (docs/design.md §3.2): the public face of the MIDI codec.

Pure Python/NumPy (pretty_midi, note_seq for sustain, mir_eval for scores); no TensorFlow or JAX.

    codec = MidiEventCodec(max_shift_steps=1000)          # 10 s windows on a 10 ms grid
    notes = read_midi_notes("piece.mid")                  # sustain pedal applied
    windows = encode_performance(notes, codec, 10.0)      # consecutive windows -> token ids
    decoded, stats = decode_performance(windows, codec)   # stitched back; stats count junk

Modules, one concern each: `codec` (vocabulary), `notes` (notes, grid, MIDI I/O), `events`
(one window), `windows` (whole performances), `metrics` (F1), `cli` (command line:
`python -m mt_music.midi --help`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mt_music.midi.codec import (
    EOS_ID,
    EVENT_TYPES,
    PAD_ID,
    UNK_ID,
    Event,
    EventRange,
    MidiEventCodec,
)
from mt_music.midi.events import (
    DecodeStats,
    EventDecoder,
    decode_tokens,
    encode_grid_window,
    encode_window,
)
from mt_music.midi.notes import (
    GridNote,
    MidiReadError,
    Note,
    grid_notes_to_notes,
    load_pretty_midi,
    notes_from_pretty_midi,
    notes_to_pretty_midi,
    prepare_notes,
    quantize_notes,
    read_midi_notes,
    write_midi_notes,
)
from mt_music.midi.windows import (
    DEFAULT_WINDOW_SECONDS,
    EncodedWindow,
    decode_performance,
    encode_performance,
    window_steps,
)

__all__ = [
    "DEFAULT_WINDOW_SECONDS", "EOS_ID", "EVENT_TYPES", "PAD_ID", "UNK_ID",
    "DecodeStats", "EncodedWindow", "Event", "EventDecoder", "EventRange", "F1Score", "GridNote",
    "MidiEventCodec", "MidiReadError", "Note", "RoundtripResult",
    "decode_performance", "decode_tokens", "encode_grid_window", "encode_performance", "encode_window",
    "grid_notes_to_notes", "load_pretty_midi", "main", "measure_roundtrip", "note_f1",
    "notes_from_pretty_midi", "notes_to_pretty_midi", "prepare_notes", "quantize_notes",
    "read_midi_notes", "window_steps", "write_midi_notes",
]

if TYPE_CHECKING:
    from mt_music.midi.cli import main
    from mt_music.midi.metrics import (
        F1Score,
        RoundtripResult,
        measure_roundtrip,
        note_f1,
    )

# Scoring and the CLI pull in mir_eval/scipy; load them on first use so that importing the
# codec (as the unified vocabulary does) stays light.
_LAZY = {"F1Score": "metrics", "RoundtripResult": "metrics", "measure_roundtrip": "metrics", "note_f1": "metrics",
         "main": "cli"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"mt_music.midi.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

