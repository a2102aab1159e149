"""MIDI event codec: vocabulary layout, token order, tie sections, note preparation, bad input."""

import subprocess
import sys

import numpy as np
import pretty_midi
import pytest

from mt_music.midi import (
    EOS_ID,
    PAD_ID,
    DecodeStats,
    EventDecoder,
    MidiEventCodec,
    Note,
    decode_performance,
    decode_tokens,
    encode_performance,
    encode_window,
    prepare_notes,
    quantize_notes,
    read_midi_notes,
)
from mt_music.midi import notes as midi_notes

CODEC = MidiEventCodec()


def readable(tokens, codec=CODEC):
    return " ".join(codec.ids_to_strings(tokens))


def ids(text, codec=CODEC):
    return [codec.string_to_id(word) for word in text.split()]


def identity(notes):
    """What the codec preserves: times, pitch, program, drum flag (velocity is binary)."""
    return sorted((round(n.start, 6), round(n.end, 6), n.pitch, n.program, n.is_drum) for n in notes)


# ------------------------------------------------------------------------ vocabulary
def test_vocabulary_layout_matches_the_contract():
    assert (CODEC.max_shift_steps, CODEC.steps_per_second) == (1000, 100)
    assert (PAD_ID, EOS_ID) == (0, 1) and CODEC.id_to_string(2) == "UNK"
    assert CODEC.encode_event("shift", 0) == 3 and CODEC.encode_event("shift", 1000) == 1003
    expected_starts = {"pitch": 1004, "velocity": 1132, "tie": 1134, "program": 1135, "drum": 1263}
    for event_type, first_id in expected_starts.items():
        assert CODEC.event_range(event_type).first_id == first_id
    assert CODEC.vocab_size == 3 + 1001 + 128 + 2 + 1 + 128 + 128 == 1391
    assert MidiEventCodec(max_shift_steps=2000).vocab_size == 1391 + 1000


def test_every_id_has_a_readable_name_that_maps_back():
    for token_id in range(CODEC.vocab_size):
        assert CODEC.string_to_id(CODEC.id_to_string(token_id)) == token_id
    assert [CODEC.id_to_string(i) for i in (0, 1, 2, 15, 1064, 1133, 1134, 1135, 1299)] == [
        "PAD", "EOS", "UNK", "shift:12", "pitch:60", "velocity:1", "tie", "program:0", "drum:36"]
    assert CODEC.decode_id(1064) == ("pitch", 60)


@pytest.mark.parametrize("bad", ["pitch:128", "shift:1001", "velocity:2", "tie:0", "pitch", "pitch:-1",
                                 "nope:1", "", "program:x"])
def test_malformed_names_are_rejected(bad):
    with pytest.raises(ValueError):
        CODEC.string_to_id(bad)


def test_out_of_range_values_and_ids_are_rejected():
    with pytest.raises(ValueError):
        CODEC.encode_event("pitch", 128)
    with pytest.raises(ValueError):
        CODEC.decode_id(CODEC.vocab_size)
    with pytest.raises(ValueError):
        MidiEventCodec(max_shift_steps=0)


def test_codec_is_hashable_and_compares_by_settings():
    assert MidiEventCodec() == CODEC and hash(MidiEventCodec()) == hash(CODEC)
    assert MidiEventCodec(max_shift_steps=2000) != CODEC


# ---------------------------------------------------------------------- token order
def test_events_follow_tick_drum_program_velocity_pitch_order():
    notes = [
        Note(0.0, 0.5, 60, program=0),
        Note(0.0, 1.0, 67, program=40),
        Note(0.5, 1.0, 64, program=0),
        Note(0.5, 0.9, 36, program=5, is_drum=True),
    ]
    assert readable(encode_window(notes, 0, 10, CODEC)) == (
        "tie program:0 velocity:1 pitch:60 program:40 pitch:67 "
        "shift:50 program:0 velocity:0 pitch:60 velocity:1 pitch:64 drum:36 "
        "shift:100 velocity:0 pitch:64 program:40 pitch:67 EOS")


def test_shift_is_absolute_from_the_window_start_and_only_when_time_advances():
    notes = [Note(12.0, 12.5, 60), Note(12.0, 12.5, 64), Note(19.99, 25.0, 62)]
    tokens = readable(encode_window(notes, 10, 20, CODEC))
    assert tokens == ("tie shift:200 program:0 velocity:1 pitch:60 pitch:64 shift:250 velocity:0 "
                      "pitch:60 pitch:64 shift:999 velocity:1 pitch:62 EOS")


def test_tie_section_carries_notes_across_windows():
    notes = [Note(8.0, 12.5, 60), Note(9.0, 20.0, 67, program=40), Note(5.0, 10.0, 72)]
    windows = encode_performance(notes, CODEC, window_seconds=10)
    assert [readable(w.tokens) for w in windows] == [
        # 72 ends exactly at the window end: its offset belongs to the next window's start
        "tie shift:500 program:0 velocity:1 pitch:72 shift:800 pitch:60 shift:900 program:40 pitch:67 EOS",
        "program:0 pitch:60 program:40 pitch:67 tie shift:250 program:0 velocity:0 pitch:60 EOS",
        "tie EOS",
    ]
    assert [(w.start, w.end) for w in windows] == [(0, 10), (10, 20), (20, 30)]
    decoded, stats = decode_performance(windows, CODEC)
    assert identity(decoded) == identity(prepare_notes(notes))
    assert (stats.invalid_events, stats.dropped_events, stats.unclosed_notes) == (0, 0, 0)


def test_drums_have_onsets_only_and_no_program_or_tie():
    notes = [Note(1.0, 30.0, 36, program=10, is_drum=True), Note(1.0, 1.2, 42, is_drum=True)]
    windows = encode_performance(notes, CODEC)
    assert readable(windows[0].tokens) == "tie shift:100 velocity:1 drum:36 drum:42 EOS"
    assert len(windows) == 1  # a drum hit lasts one step, whatever the file said
    decoded, _ = decode_performance(windows, CODEC)
    assert identity(decoded) == [(1.0, 1.01, 36, 0, True), (1.0, 1.01, 42, 0, True)]


def test_twenty_second_windows_use_shifts_up_to_2000():
    codec = MidiEventCodec(max_shift_steps=2000)
    notes = [Note(19.99, 20.5, 60), Note(0.0, 45.0, 48, program=33), Note(25.0, 39.99, 62)]
    windows = encode_performance(notes, codec, window_seconds=20)
    assert [(w.start, w.end) for w in windows] == [(0, 20), (20, 40), (40, 60)]
    assert "shift:1999" in readable(windows[0].tokens, codec)
    assert "shift:1999" in readable(windows[1].tokens, codec)
    decoded, stats = decode_performance(windows, codec)
    assert identity(decoded) == identity(prepare_notes(notes)) and stats.invalid_events == 0
    with pytest.raises(ValueError, match="2000"):
        encode_performance(notes, CODEC, window_seconds=20)  # 1000-step codec cannot reach 20 s


def test_a_window_longer_than_the_shift_range_is_refused():
    with pytest.raises(ValueError):
        encode_window([Note(0, 1, 60)], 0, 10.01, CODEC)


# ------------------------------------------------------------------ note preparation
def test_overlapping_notes_of_one_voice_are_trimmed():
    notes = [Note(0.0, 1.0, 60), Note(0.5, 1.5, 60), Note(0.2, 0.8, 60, program=1), Note(0.0, 2.0, 62),
             Note(0.0, 0.3, 62)]
    assert identity(prepare_notes(notes)) == [
        (0.0, 0.5, 60, 0, False), (0.0, 2.0, 62, 0, False),  # same-onset duplicate: longest kept
        (0.2, 0.8, 60, 1, False), (0.5, 1.5, 60, 0, False)]


def test_minimum_duration_is_one_10ms_step():
    notes = [Note(1.0, 1.002, 60), Note(2.004, 2.006, 61), Note(3.0, 3.0, 62), Note(4.0, 3.5, 63)]
    assert [(n.start, n.end) for n in prepare_notes(notes)] == [(1.0, 1.01), (2.0, 2.01), (3.0, 3.01),
                                                                (4.0, 4.01)]


def test_minimum_duration_never_overlaps_the_next_onset():
    grid = quantize_notes([Note(1.0, 1.001, 60), Note(1.004, 2.0, 60)])
    assert [(n.start_step, n.end_step) for n in grid] == [(100, 200)]  # both onsets on step 100
    grid = quantize_notes([Note(1.0, 1.001, 60), Note(1.01, 2.0, 60)])
    assert [(n.start_step, n.end_step) for n in grid] == [(100, 101), (101, 200)]


def test_times_round_half_up_to_the_grid():
    assert [n.start for n in prepare_notes([Note(0.005, 1, 60), Note(0.0149, 1, 61), Note(-0.3, 1, 62)])] == [
        0.0, 0.01, 0.01]


def test_out_of_range_pitch_or_program_is_an_error():
    with pytest.raises(ValueError, match="pitch"):
        quantize_notes([Note(0, 1, 128)])
    with pytest.raises(ValueError, match="program"):
        quantize_notes([Note(0, 1, 60, program=200)])


# -------------------------------------------------------------------------- sustain
def _write_pedal_file(path):
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(program=0)
    piano.notes += [pretty_midi.Note(90, 60, 0.0, 0.5), pretty_midi.Note(90, 64, 0.1, 0.3),
                    pretty_midi.Note(90, 64, 0.6, 0.8), pretty_midi.Note(90, 62, 2.0, 2.5)]
    piano.control_changes += [pretty_midi.ControlChange(64, 127, 0.2), pretty_midi.ControlChange(64, 0, 1.5)]
    strings = pretty_midi.Instrument(program=48)
    strings.notes.append(pretty_midi.Note(90, 67, 0.0, 0.5))
    midi.instruments += [piano, strings]
    midi.write(str(path))


def test_sustain_pedal_extends_offsets_per_instrument(tmp_path):
    path = tmp_path / "pedal.mid"
    _write_pedal_file(path)
    assert identity(prepare_notes(read_midi_notes(path))) == [
        (0.0, 0.5, 67, 48, False),  # other instrument: the piano's pedal does not hold it
        (0.0, 1.5, 60, 0, False),
        (0.1, 0.6, 64, 0, False),   # held until the same pitch is struck again
        (0.6, 1.5, 64, 0, False),
        (2.0, 2.5, 62, 0, False),   # after the pedal is released
    ]
    assert (0.0, 0.5, 60, 0, False) in identity(prepare_notes(read_midi_notes(path, apply_sustain=False)))


def test_note_seq_path_reads_the_same_notes_when_no_pedal(tmp_path):
    midi = pretty_midi.PrettyMIDI()
    for program, is_drum in ((0, False), (40, False), (0, True)):
        instrument = pretty_midi.Instrument(program=program, is_drum=is_drum)
        instrument.notes += [pretty_midi.Note(80, 40 + program % 30 + k, 0.13 * k, 0.13 * k + 0.4)
                             for k in range(20)]
        midi.instruments.append(instrument)
    path = tmp_path / "plain.mid"
    midi.write(str(path))
    loaded = pretty_midi.PrettyMIDI(str(path))
    assert identity(midi_notes._sustained_notes(loaded)) == identity(midi_notes.notes_from_pretty_midi(loaded))


# ---------------------------------------------------------------- malformed sequences
def decode(text, codec=CODEC, **kwargs):
    return decode_tokens(ids(text, codec), codec, **kwargs)


@pytest.mark.parametrize("text, reason, count", [
    ("velocity:1 program:0 pitch:60 shift:10 velocity:0 pitch:60 EOS", "missing_tie", 1),
    ("tie program:0 velocity:1 shift:50 pitch:60 shift:20 velocity:0 pitch:60 EOS", "shift_backwards", 1),
    ("tie program:0 pitch:60 EOS", "pitch_without_velocity", 1),
    ("tie velocity:1 pitch:60 EOS", "pitch_without_program", 1),
    ("tie tie EOS", "tie_outside_tie_section", 1),
    ("tie velocity:0 drum:36 EOS", "drum_note_off", 1),
    ("tie drum:36 EOS", "drum_without_velocity", 1),
    ("tie program:0 velocity:0 pitch:60 EOS", "note_off_of_silent_note", 1),
    ("tie program:0 velocity:1 pitch:60 pitch:60 shift:10 velocity:0 pitch:60 EOS", "duplicate_note_on", 1),
    ("program:3 pitch:60 tie EOS", "tie_of_silent_note", 1),
    ("UNK tie UNK EOS", "unknown_token", 2),
])
def test_malformed_sequences_are_counted_not_raised(text, reason, count):
    notes, stats = decode(text)
    assert stats.reasons[reason] == count
    assert stats.invalid_events >= count
    assert all(n.end > n.start for n in notes)


def test_out_of_range_ids_are_invalid():
    notes, stats = decode_tokens([-1, CODEC.vocab_size, 10**12, CODEC.string_to_id("tie"), EOS_ID], CODEC)
    assert stats.invalid_events == 3 and stats.reasons["id_out_of_range"] == 3 and notes == []


def test_tokens_after_eos_and_past_the_window_end_are_dropped():
    _, stats = decode_tokens(ids("tie EOS pitch:60 program:1") + [PAD_ID, PAD_ID], CODEC)
    assert (stats.invalid_events, stats.dropped_events, stats.reasons["after_eos"]) == (0, 2, 2)
    notes, stats = decode("tie program:0 velocity:1 pitch:60 shift:150 velocity:0 pitch:60 EOS", end=1.0)
    assert stats.dropped_events == 3 and stats.reasons["past_window_end"] == 3
    assert stats.unclosed_notes == 1 and identity(notes) == [(0.0, 0.01, 60, 0, False)]


def test_notes_never_closed_end_at_the_last_decoded_time():
    notes, stats = decode("tie program:0 velocity:1 pitch:60 shift:30 pitch:62")
    assert identity(notes) == [(0.0, 0.3, 60, 0, False), (0.3, 0.31, 62, 0, False)]
    assert stats.unclosed_notes == 2 and stats.windows_without_eos == 1 and stats.invalid_events == 0


def test_restruck_sounding_note_ends_the_old_one():
    notes, stats = decode("tie program:0 velocity:1 pitch:60 shift:10 pitch:60 shift:20 velocity:0 pitch:60 EOS")
    assert identity(notes) == [(0.0, 0.1, 60, 0, False), (0.1, 0.2, 60, 0, False)]
    assert stats.reasons["note_on_of_sounding_note"] == 1


def test_duplicate_and_silent_ties_across_windows():
    decoder = EventDecoder(CODEC)
    decoder.decode_window(ids("tie program:0 velocity:1 pitch:60 EOS"), 0, 1000)
    stats = decoder.decode_window(ids("program:0 pitch:60 pitch:60 pitch:61 tie shift:5 velocity:0 pitch:60 EOS"),
                                  1000, 2000)
    assert stats.reasons["duplicate_tie"] == 1 and stats.reasons["tie_of_silent_note"] == 1
    assert identity(decoder.finish()) == [(0.0, 10.05, 60, 0, False)]


def test_a_missing_tie_section_ends_sounding_notes_at_the_window_start():
    decoder = EventDecoder(CODEC)
    decoder.decode_window(ids("tie program:0 velocity:1 pitch:60 EOS"), 0, 1000)
    stats = decoder.decode_window([], 1000, 2000)
    assert stats.reasons["missing_tie"] == 1 and stats.windows_without_eos == 1
    assert identity(decoder.finish()) == [(0.0, 10.0, 60, 0, False)]


def test_stats_merge_and_summary():
    total = DecodeStats()
    for _ in range(2):
        _, stats = decode("tie tie EOS pitch:1")
        total.merge(stats)
    assert (total.invalid_events, total.dropped_events) == (2, 2)
    assert "tie_outside_tie_section=2" in total.summary()


def test_ten_thousand_random_sequences_decode_without_exceptions():
    rng = np.random.default_rng(1234)
    decoder = EventDecoder(CODEC)  # one decoder across all windows: open notes carry over
    invalid = 0
    for index in range(10_000):
        tokens = rng.integers(-3, CODEC.vocab_size + 3, size=rng.integers(0, 60))
        if index % 2:  # half look plausible: a tie early, EOS late
            tokens[: min(2, len(tokens))] = CODEC.encode_event("tie")
        stats = decoder.decode_window(tokens, index * 1000, (index + 1) * 1000)
        invalid += stats.invalid_events
    notes = decoder.finish()
    assert invalid > 0 and notes
    assert all(n.end > n.start and 0 <= n.pitch <= 127 for n in notes)
    assert decoder.stats.invalid_events == invalid


# ----------------------------------------------------------------------- boundaries
def test_importing_the_codec_pulls_in_neither_tensorflow_nor_jax():
    code = ("import sys, mt_music.midi; "
            "bad = sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'jax', 'flax', 'seqio'}); "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
