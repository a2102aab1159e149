"""The K-slot feature converter and the direction table, on hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest

from mt_music.data import directions, features
from mt_music.errors import UserError
from mt_music.image import grids
from mt_music.vocabulary import Modality, UnifiedVocabulary

VOC = UnifiedVocabulary()


def test_lmx_target_shifts_right_and_weights_slot_zero_only():
    source = VOC.encode_audio(np.array([[1, 2, 3, 4], [5, 6, 7, 8]]))
    target = VOC.encode_lmx(["clef:G2", "measure"])  # 2 tokens + EOS
    row = features.convert(VOC, source=source, source_positions=features.line_positions(2),
                           source_modality=Modality.AUDIO, target=target, target_positions=features.line_positions(3),
                           target_modality=Modality.LMX, encoder_length=4, decoder_length=5, task_id=7)
    assert row["encoder_input_tokens"].shape == (4, 4) and (row["encoder_input_tokens"][2:] == 0).all()
    assert (row["encoder_input_tokens"][:2] == source).all()
    assert row["encoder_positions"][:, 0].tolist() == [0, 1, 0, 0]
    assert (row["decoder_input_tokens"][0] == VOC.sos_frame(Modality.LMX)).all()
    assert (row["decoder_input_tokens"][1:3] == target[:2]).all() and (row["decoder_input_tokens"][3:] == 0).all()
    assert row["decoder_target_tokens"][2, 0] == VOC.eos_id(Modality.LMX)
    assert row["decoder_loss_weights"].tolist() == [[1, 0, 0, 0]] * 3 + [[0, 0, 0, 0]] * 2
    assert row["decoder_positions"][:, 0].tolist() == [0, 1, 2, 0, 0]
    assert int(row["encoder_modality"]) == Modality.AUDIO and int(row["decoder_modality"]) == Modality.LMX
    assert int(row["task_id"]) == 7 and set(row) == set(features.FEATURES)


def test_image_target_positions_follow_the_frame_each_input_feeds():
    grid = np.arange(2 * 3 * 4).reshape(2, 3, 4) % 1024  # 2 rows × 3 columns
    joined = grids.join_systems_for_output([grid])  # height, 6 codes
    target = VOC.encode_image(joined.frames, add_eos=True)
    row = features.convert(VOC, source=VOC.encode_lmx(["measure"]), source_positions=features.line_positions(2),
                           source_modality=Modality.LMX, target=target, target_positions=joined.positions,
                           target_modality=Modality.IMAGE, encoder_length=2, decoder_length=9)
    n = len(target)
    assert n == 8  # height + 6 codes + EOS
    assert row["decoder_positions"][0].tolist() == [0, 0]
    assert (row["decoder_positions"][1:n] == joined.positions).all()
    weights = row["decoder_loss_weights"]
    assert weights[0].tolist() == [1, 0, 0, 0]  # the height frame: one id in slot 0, PAD (0) after it
    assert (weights[1:n] == 1).all() and (weights[n:] == 0).all()  # codes and the 4-slot EOS
    assert (row["decoder_input_tokens"][0] == VOC.sos_frame(Modality.IMAGE)).all()


def test_too_long_examples_are_refused_not_cut():
    target = VOC.encode_lmx(["measure"] * 5)
    with pytest.raises(ValueError, match="does not fit"):
        features.convert(VOC, source=target, source_positions=features.line_positions(6), source_modality=Modality.LMX,
                         target=target, target_positions=features.line_positions(6), target_modality=Modality.LMX,
                         encoder_length=8, decoder_length=4)


def test_twelve_directions_with_guessable_names():
    names = [d.name for d in directions.ALL]
    assert len(set(names)) == 12 and "image2lmx" in names and "audio2midi" in names and "lmx2lmx" not in names
    assert all(directions.Direction.parse(name).name == name for name in names)
    assert directions.Direction.parse("midi->audio") == directions.Direction(Modality.MIDI, Modality.AUDIO)
    assert set(directions.CORE) <= set(names) and len(directions.CORE) == 6
    for bad in ("image2image", "score2lmx", "imagelmx"):
        with pytest.raises(UserError, match="the directions are image2lmx"):
            directions.Direction.parse(bad)


def test_length_limits_table():
    limits = directions.LengthLimits()
    assert limits.of(Modality.AUDIO) == 1751 and limits.of(Modality.IMAGE) == 3902
    with pytest.raises(UserError, match="LengthLimits.midi"):
        directions.LengthLimits(midi=0)
