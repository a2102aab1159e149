"""Windows of whole pieces for audio↔MIDI: consecutive ones stitch back to the piece, random ones line up."""

from __future__ import annotations

import numpy as np
import pytest
from system_records import piece_record, record

from mt_music.audio.io import FRAMES_PER_SECOND
from mt_music.data import curriculum, piece_windows, system_frames
from mt_music.data.translation_mixture import TranslationMixture
from mt_music.errors import UserError
from mt_music.midi.notes import quantize_notes
from mt_music.midi.windows import EncodedWindow, decode_performance
from mt_music.vocabulary import Modality, UnifiedVocabulary

VOCABULARY = UnifiedVocabulary()


def windows(seconds=1.0, **kwargs) -> piece_windows.PieceWindows:
    return piece_windows.PieceWindows([piece_record(**kwargs)], VOCABULARY, seconds)


def test_consecutive_windows_stitch_back_to_the_piece_on_the_grid():
    source = windows()
    consecutive = source.consecutive(0)
    assert [w.index for w in consecutive] == [0, 1, 2, 3] and [w.start_step for w in consecutive] == [0, 100, 200, 300]
    encoded = []
    for window in consecutive:
        frames, positions = source.frames(window, Modality.MIDI, output=True)
        assert positions.shape == (len(frames), 2)
        native, skipped = VOCABULARY.decode_midi(frames)
        assert skipped == 0
        start = window.start_seconds(100)
        encoded.append(EncodedWindow(start, start + 1.0, list(native) + [1]))
    notes, _ = decode_performance(encoded, VOCABULARY.config.midi_codec)
    expected = quantize_notes(system_frames.record_notes(source.records[0]), 100)
    timing = lambda grid: sorted((n.start_step, n.end_step, n.pitch, n.program) for n in grid)  # noqa: E731
    assert timing(quantize_notes(notes, 100)) == timing(expected)  # (the vocabulary's codec keeps no velocities)


def test_audio_windows_are_slices_of_the_piece_and_cover_the_midi_window():
    source = windows()
    codes = source.records[0]["audio_codes"]
    window = source.consecutive(0)[2]
    frames, _ = source.frames(window, Modality.AUDIO, output=False, audio_variant=1)
    assert len(frames) == source.frames_per_window == 87  # ceil(86.13): the audio covers the whole second
    np.testing.assert_array_equal(VOCABULARY.decode_audio(frames)[0], codes[1, window.start_frame: window.start_frame + 87])
    assert abs(window.start_frame / FRAMES_PER_SECOND - 2.0) <= 0.5 / FRAMES_PER_SECOND
    last = source.consecutive(0)[-1]  # the piece ends inside it: a shorter audio window
    assert source.frame_count(last, Modality.AUDIO, output=True) == codes.shape[1] - last.start_frame + 1


def test_random_windows_are_seeded_whole_and_aligned_to_the_grid():
    source = windows()
    draws = [source.random(0, np.random.default_rng([3, i])) for i in range(200)]
    again = [source.random(0, np.random.default_rng([3, i])) for i in range(200)]
    assert draws == again
    total = source.total_frames(0)
    assert all(0 <= w.start_frame <= total - source.frames_per_window for w in draws)
    assert len({w.start_frame for w in draws}) > 100  # every frame is a possible start
    assert all(abs(w.start_step / 100 - w.start_frame / FRAMES_PER_SECOND) <= 0.005 for w in draws)


def test_a_window_that_is_no_whole_number_of_steps_is_a_user_error():
    with pytest.raises(UserError, match="window_seconds = 0.005"):
        windows(seconds=0.005)


def test_the_mixture_trains_amt_on_piece_windows_and_the_rest_on_systems():
    ramps = [curriculum.Ramp("audio2midi"), curriculum.Ramp("midi2audio"), curriculum.Ramp("image2lmx")]
    pieces = [piece_record(seed) for seed in range(3)]
    source = TranslationMixture([record(seed) for seed in range(3)], ramps, encoder_length=128, decoder_length=128,
                                pieces=pieces, window_seconds=1.0)
    batch = source.batch(step=0, batch_size=48)
    again = source.batch(step=0, batch_size=48)
    for name in batch:
        np.testing.assert_array_equal(batch[name], again[name])
    amt = np.flatnonzero(batch["task_id"] == 0)
    synthesis = np.flatnonzero(batch["task_id"] == 1)
    assert len(amt) and len(synthesis)
    for row in amt:  # a window of one piece's codes, in whole
        codes, _ = VOCABULARY.decode_audio(batch["encoder_input_tokens"][row][: int((batch["encoder_input_tokens"][row, :, 0] > 0).sum())])
        assert len(codes) == 87
        assert any(_contains(p["audio_codes"], codes) for p in pieces)
    for row in synthesis:
        assert int((batch["decoder_target_tokens"][row, :, 0] > 0).sum()) == 88  # 87 frames + EOS
    assert source.skipped["audio2midi"] == 0 and source.task_names == ["audio2midi", "midi2audio", "image2lmx"]


def test_pieces_without_a_window_that_fits_are_counted():
    ramps = [curriculum.Ramp("audio2midi"), curriculum.Ramp("image2lmx")]
    source = TranslationMixture([record(0)], ramps, encoder_length=128, decoder_length=128,
                                pieces=[piece_record(0)], window_seconds=1.0)
    assert source.skipped["audio2midi"] == 0
    with pytest.raises(UserError, match="audio2midi"):  # every window (the last: 44 frames) is over 40
        TranslationMixture([record(0)], ramps, encoder_length=40, decoder_length=128, pieces=[piece_record(0)],
                           window_seconds=1.0)


def _contains(all_codes: np.ndarray, window: np.ndarray) -> bool:
    for variant in all_codes:
        for start in range(len(variant) - len(window) + 1):
            if np.array_equal(variant[start: start + len(window)], window):
                return True
    return False
