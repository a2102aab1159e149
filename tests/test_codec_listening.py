"""The machine-readable listening check: transcription onsets matched against the score's notes, drawn as rolls."""

from __future__ import annotations

import numpy as np

from mt_music.codecs import listening
from mt_music.midi.notes import Note

SCORE = [Note(0.0, 0.5, 60), Note(0.5, 1.0, 64), Note(1.0, 1.5, 67)]


def test_onsets_match_by_pitch_within_50_ms():
    estimate = [Note(0.03, 0.5, 60), Note(0.56, 1.0, 64), Note(1.0, 1.4, 68), Note(0.9, 1.2, 67)]
    assert listening.matched_onsets(SCORE, estimate) == [True, False, False, False]
    assert listening.matched_onsets([], estimate[:1]) == [False]


def test_roll_shows_matched_onsets_green_and_invented_ones_red():
    good, bad = [Note(0.0, 0.5, 60)], [Note(0.25, 0.5, 72)]
    image = np.asarray(listening.roll_image(SCORE, [good, bad], seconds=1.5))
    height = image.shape[0] // 2
    green = (image[..., 1] > 120) & (image[..., 0] < 60)
    red = (image[..., 0] > 200) & (image[..., 1] < 60)
    assert image.shape[1] == 150
    assert green[:height].any() and not red[:height].any()  # the first roll: its one onset matched
    assert red[height:].any() and not green[height:].any()  # the second: an invented note
    assert (image == 205).all(-1).sum() > 0  # the score's notes as grey boxes
