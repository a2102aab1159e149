"""Image and audio outputs scored through the shipped codecs: a prediction equal to its target scores as the target."""

from __future__ import annotations

import pathlib

import numpy as np
import pretty_midi
import pytest
from codec_testing import engraved_systems

from mt_music import media_scoring
from mt_music.audio import synthesis
from mt_music.codecs import evaluation
from mt_music.data.directions import Direction
from mt_music.evaluation import note_metrics
from mt_music.image import pixels, preprocessing
from mt_music.midi.notes import Note

ASSETS = pathlib.Path(__file__).parents[1] / "assets" / "codecs"


@pytest.mark.skipif(not evaluation.basic_pitch_available(),
                    reason=f"basic-pitch is not installed ({evaluation.BASIC_PITCH_INSTALL})")
def test_audio_outputs_equal_to_their_targets_score_as_the_codec_round_trip():
    scorer = media_scoring.MediaScorer.load(None, str(ASSETS / "audio_cpu"))
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(velocity=90, pitch=p, start=0.25 + 0.4 * i, end=0.6 + 0.4 * i)
                   for i, p in enumerate([60, 64, 67, 72, 67, 64])]
    midi.instruments.append(piano)
    codes = scorer.audio_codec.encode_audio(synthesis.synthesize(midi))
    notes = np.array([[n.start, n.end, n.pitch, 0] for n in piano.notes], np.float32)
    outputs = [{"codes": codes}, {"codes": codes[: len(codes) // 2]}]
    examples = [{"reference_notes": notes}, {"reference_notes": notes[notes[:, 0] < len(codes) / 2 / 86.13]}]
    scores = scorer.score(Direction.parse("midi2audio"), outputs, outputs, examples)
    assert scores["onset_f1"] == scores["codec_onset_f1"] > 0.5
    assert abs(scores["fad_logmel128"]) < 1e-3  # the same audio on both sides
    stretched = scorer.score(Direction.parse("image2audio"), outputs, outputs, examples)
    assert stretched["dtw_onset_f1"] >= 0.5  # tempo-free directions are also scored after DTW
    assert scorer.score(Direction.parse("audio2lmx"), outputs, outputs, examples) == {}


@pytest.mark.skipif(not evaluation.basic_pitch_available(),
                    reason=f"basic-pitch is not installed ({evaluation.BASIC_PITCH_INSTALL})")
def test_the_amt_peer_hears_a_window_of_real_audio_and_gives_notes_in_piece_time():
    scorer = media_scoring.MediaScorer.load(None, None)
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(velocity=90, pitch=p, start=0.25 + 0.5 * i, end=0.65 + 0.5 * i)
                   for i, p in enumerate([60, 64, 67, 72, 67, 64, 60, 55])]
    midi.instruments.append(piano)
    waveform = synthesis.synthesize(midi)
    window = {"window_audio": waveform[2 * 44100: 4 * 44100], "window_start": np.float32(2.0)}
    notes = scorer.peer_notes(window)["basic_pitch"]
    heard = [n for n in piano.notes if 2.0 <= n.start < 3.9]
    reference = [Note(n.start, n.end, n.pitch) for n in heard]
    assert len(notes) >= len(heard) - 1 and min(n.start for n in notes) > 1.95
    assert note_metrics.note_scores(reference, [n for n in notes if n.start < 3.9])["onset_f1"] > 0.7
    assert scorer.peer_notes({"window_audio": np.zeros(0, np.float32)}) == {}


def test_image_outputs_are_compared_as_pixels_with_cut_columns_drawn_white():
    scorer = media_scoring.MediaScorer.load(str(ASSETS / "image_cpu"), None)
    content = pixels.to_model_range(engraved_systems()[0])
    grid = scorer.image_codec.encode_image(preprocessing.pad_to_multiple(content, fill=1.0))
    same = scorer.score(Direction.parse("lmx2image"), [{"grids": [grid]}], [{"grids": [grid]}], [{}])
    assert same["image_ink_recall"] == same["image_ink_precision"] == 1.0 and same["image_pixel_mae"] == 0.0
    cut = grid.copy()
    cut[:, cut.shape[1] // 5:] = scorer.image_codec.codebook_size  # a prediction that stopped early: PAD (the ink ends at ~45 %)
    half = scorer.score(Direction.parse("lmx2image"), [{"grids": [grid]}], [{"grids": [cut]}], [{}])
    assert 0.2 < half["image_ink_recall"] < 0.9 and half["image_ink_precision"] > 0.95
