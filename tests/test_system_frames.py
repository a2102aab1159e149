"""System records rendered per modality decode back to what was baked (the round trip a task relies on)."""

from __future__ import annotations

import numpy as np
import pytest
from system_records import NOTES, record

from mt_music.data import system_frames
from mt_music.image import grids
from mt_music.midi.events import decode_tokens
from mt_music.midi.notes import quantize_notes
from mt_music.vocabulary import Modality, UnifiedVocabulary

VOC = UnifiedVocabulary()


def test_lmx_core_flavour_drops_extended_tokens_and_round_trips():
    frames, positions = system_frames.frames(VOC, record(), Modality.LMX, output=True)
    tokens, skipped = VOC.decode_lmx(frames)
    assert skipped == 0 and tokens == system_frames.lmx_tokens(record()) and "staccato" not in tokens
    assert "staccato" in system_frames.lmx_tokens(record(), "extended")
    assert frames[-1, 0] == VOC.eos_id(Modality.LMX) and positions[:, 0].tolist() == list(range(len(frames)))


@pytest.mark.parametrize("output", [False, True])
def test_midi_round_trips_on_the_10_ms_grid(output):
    frames, _ = system_frames.frames(VOC, record(), Modality.MIDI, output=output)
    native, skipped = VOC.decode_midi(frames)
    notes, _ = decode_tokens(native.tolist(), VOC.config.midi_codec)
    key = lambda ns: sorted((n.start_step, n.pitch, n.program, n.is_drum) + (() if n.is_drum else (n.end_step,))  # noqa: E731
                            for n in quantize_notes(ns))
    assert skipped == 0 and key(notes) == key(NOTES)


def test_midi_past_the_window_is_an_error():
    late = record() | {"notes/end": np.array([0.5, 1.0, 20.5]), "notes/is_drum": np.array([0, 0, 0])}
    with pytest.raises(ValueError, match="past the 20 s MIDI window"):
        system_frames.frames(VOC, late, Modality.MIDI, output=False)


@pytest.mark.parametrize("variant", [0, 1])
def test_image_codes_round_trip_as_input_and_output(variant):
    baked = system_frames.image_grid(record(), variant)
    assert baked.shape == (3, 5 - variant, 4)
    for output in (False, True):
        frames, positions = system_frames.frames(VOC, record(), Modality.IMAGE, output=output, image_variant=variant)
        native, repaired = VOC.decode_image(frames)
        split = grids.split_systems(native, for_output=True) if output else grids.split_systems_from_input(native, 3)
        assert repaired == 0 and len(split.grids) == 1 and np.array_equal(split.grids[0], baked)
        assert len(positions) == len(frames) - (1 if output else 0)
        assert (frames[-1] == VOC.eos_frame(Modality.IMAGE)).all() == output


def test_audio_codes_round_trip():
    for variant in range(3):
        frames, _ = system_frames.frames(VOC, record(), Modality.AUDIO, output=True, audio_variant=variant)
        codes, repaired = VOC.decode_audio(frames)
        assert repaired == 0 and np.array_equal(codes, record()["audio_codes"][variant])


@pytest.mark.parametrize("modality", list(Modality))
def test_frame_count_matches_the_rendered_frames(modality):
    for output in (False, True):
        for variant in (0, 1):
            rendered = system_frames.frames(VOC, record(), modality, output=output, image_variant=variant,
                                            audio_variant=variant)[0]
            assert system_frames.frame_count(VOC, record(), modality, output=output, image_variant=variant,
                                             audio_variant=variant) == len(rendered)
