"""Listening checks for audio codecs that a machine can read: what a transcriber hears on decoded audio.

Nobody on the team listens to every decoded WAV, so `tools/eval_codec.py --audio-samples DIR`
writes, for a few systems, the original and decoded WAVs next to a piano roll per version: the
score's notes as grey boxes, basic-pitch's notes on that audio as onset ticks — green where a
score note of the same pitch starts within 50 ms (a mir_eval onset match), red where none does.
A good codec's decoded roll looks like the original's; invented re-onsets show up as red ticks.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from mt_music.midi.notes import Note

ONSET_TOLERANCE = 0.05  # s, mir_eval's default for onset matching
PIXELS_PER_SECOND = 100
ROW = 4  # px per semitone


def matched_onsets(reference: Sequence[Note], estimate: Sequence[Note]) -> list[bool]:
    """For each estimated note: does a reference note of its pitch start within the tolerance?"""
    starts: dict[int, np.ndarray] = {}
    for note in reference:
        starts.setdefault(note.pitch, []).append(note.start)
    starts = {pitch: np.asarray(times) for pitch, times in starts.items()}
    return [bool(note.pitch in starts and np.min(np.abs(starts[note.pitch] - note.start)) <= ONSET_TOLERANCE)
            for note in estimate]


def _row_top(pitch: int, *, top: int, high: int) -> int:
    return top + (high - pitch) * ROW


def roll_image(reference: Sequence[Note], estimates: Sequence[Sequence[Note]], seconds: float) -> Image.Image:
    """One roll per estimate (e.g. original, decoded), stacked, each over the reference's notes."""
    pitches = [note.pitch for note in reference] + [note.pitch for notes in estimates for note in notes]
    low, high = (min(pitches) - 2, max(pitches) + 2) if pitches else (58, 74)
    width, height = max(1, int(seconds * PIXELS_PER_SECOND)), (high - low + 1) * ROW
    sheet = Image.new("RGB", (width, len(estimates) * (height + 6)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, estimate in enumerate(estimates):
        top = index * (height + 6)
        y_of = functools.partial(_row_top, top=top, high=high)
        for note in reference:
            draw.rectangle([note.start * PIXELS_PER_SECOND, y_of(note.pitch),
                            max(note.end, note.start + 0.02) * PIXELS_PER_SECOND, y_of(note.pitch) + ROW - 1],
                           fill=(205, 205, 205))
        for note, matched in zip(estimate, matched_onsets(reference, estimate)):
            x = note.start * PIXELS_PER_SECOND
            draw.rectangle([x, y_of(note.pitch) - 1, x + 2, y_of(note.pitch) + ROW],
                           fill=(20, 150, 40) if matched else (220, 30, 30))
        draw.line([(0, top + height + 2), (width, top + height + 2)], fill=(120, 120, 120))
    return sheet
