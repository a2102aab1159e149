"""A whole performance as consecutive fixed-length windows, and stitching them back.

This is how AMT runs over a piece (docs/design.md §3.2): windows of 10 s (or 20 s) are encoded or
predicted independently; decoding them in order with one `EventDecoder` continues every note that
a window's tie section declares as still sounding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from mt_music.midi.codec import MidiEventCodec
from mt_music.midi.events import DecodeStats, EventDecoder, encode_grid_window
from mt_music.midi.notes import GridNote, Note, nearest_step, quantize_notes

DEFAULT_WINDOW_SECONDS = 10.0


@dataclasses.dataclass(frozen=True)
class EncodedWindow:
    """The tokens of one window and the time span they describe, in seconds."""

    start: float
    end: float
    tokens: list[int]


def window_steps(window_seconds: float, codec: MidiEventCodec) -> int:
    """Window length in grid steps; it must be a whole number that the shift range covers."""
    steps = window_seconds * codec.steps_per_second
    if steps < 1 or abs(steps - round(steps)) > 1e-6:
        raise ValueError(f"window of {window_seconds} s is not a positive whole number of "
                         f"{1000 / codec.steps_per_second:g} ms steps")
    if round(steps) > codec.max_shift_steps:
        raise ValueError(f"window of {window_seconds} s needs shifts up to {round(steps)}, "
                         f"but the codec stops at {codec.max_shift_steps}")
    return round(steps)


def count_windows(grid_notes: Sequence[GridNote], steps_per_window: int) -> int:
    """Enough windows that every offset falls strictly inside one (at least one window)."""
    last_step = max((note.end_step for note in grid_notes), default=0)
    return last_step // steps_per_window + 1


def encode_performance(notes: Iterable[Note], codec: MidiEventCodec,
                       window_seconds: float = DEFAULT_WINDOW_SECONDS) -> list[EncodedWindow]:
    """Cut a whole performance into consecutive windows from 0 s and encode each."""
    steps_per_window = window_steps(window_seconds, codec)
    grid_notes = quantize_notes(notes, codec.steps_per_second)
    windows = []
    for index in range(count_windows(grid_notes, steps_per_window)):
        start_step = index * steps_per_window
        end_step = start_step + steps_per_window
        relevant = [n for n in grid_notes if n.start_step < end_step and n.end_step > start_step]
        windows.append(EncodedWindow(start_step / codec.steps_per_second, end_step / codec.steps_per_second,
                                     encode_grid_window(relevant, start_step, end_step, codec)))
    return windows


def decode_performance(windows: Iterable[EncodedWindow],
                       codec: MidiEventCodec) -> tuple[list[Note], DecodeStats]:
    """Decode windows in time order and stitch them into one list of notes.

    Each window may only place events up to the next window's start (or its own end), so
    overlapping predictions cannot put two copies of a note into the result.
    """
    ordered = sorted(windows, key=lambda window: window.start)
    decoder = EventDecoder(codec)
    steps = codec.steps_per_second
    for window, following in zip(ordered, ordered[1:] + [None]):
        limit = window.end if following is None else min(window.end, following.start)
        decoder.decode_window(window.tokens, nearest_step(window.start, steps), nearest_step(limit, steps))
    return decoder.finish(), decoder.stats
