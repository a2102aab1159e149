"""Whole-performance round trips: windowing -> tokens -> stitching, F1 scoring, the corpus check."""

import importlib.util
import pathlib
import sys

import numpy as np
import pytest

from mt_music.midi import (
    EncodedWindow,
    MidiEventCodec,
    Note,
    corpus_roundtrip,
    decode_performance,
    encode_performance,
    measure_roundtrip,
    note_f1,
    prepare_notes,
    read_midi_notes,
    write_midi_notes,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Short corpus pieces: 4-part chorales, 5-part madrigals, masses (kern), and pieces with several
# programs (voice + keyboard, strings, trecento instruments). >= 50 must be measured.
CORPUS_TEST_PIECES = ("bach:41", "monteverdi:2", "palestrina:4", "trecento:1", "handel:1", "corelli:1",
                      "verdi:1", "haydn:1")
MIN_MEASURED_PIECES = 50


def identity(notes):
    return sorted((round(n.start, 6), round(n.end, 6), n.pitch, n.program, n.is_drum) for n in notes)


def random_performance(seed, seconds=65.0, count=400):
    """Notes on and off the grid, long notes spanning windows, unisons, drums, exact boundaries."""
    rng = np.random.default_rng(seed)
    notes = []
    for _ in range(count):
        start = float(rng.choice([rng.uniform(0, seconds), rng.integers(0, seconds // 5) * 5.0]))
        duration = float(rng.choice([rng.exponential(0.4), rng.uniform(5, 25), 10.0 - start % 10]))
        is_drum = bool(rng.random() < 0.1)
        notes.append(Note(start, start + max(duration, 0.0), int(rng.integers(36, 84)),
                          int(rng.integers(1, 128)), int(rng.choice([0, 40, 73])), is_drum))
    return notes


# ------------------------------------------------------------------ exact round trips
@pytest.mark.parametrize("window_seconds, max_shift_steps", [(10, 1000), (20, 2000), (10, 2000), (5, 1000)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_performances_round_trip_exactly(seed, window_seconds, max_shift_steps):
    codec = MidiEventCodec(max_shift_steps=max_shift_steps)
    notes = random_performance(seed)
    windows = encode_performance(notes, codec, window_seconds)
    assert all(w.end - w.start == window_seconds for w in windows)
    decoded, stats = decode_performance(windows, codec)
    assert identity(decoded) == identity(prepare_notes(notes))
    assert (stats.invalid_events, stats.dropped_events, stats.unclosed_notes) == (0, 0, 0)


def test_preparation_is_idempotent_and_round_trips_through_a_midi_file(tmp_path):
    codec = MidiEventCodec()
    reference = prepare_notes(random_performance(7))
    assert identity(prepare_notes(reference)) == identity(reference)
    decoded, _ = decode_performance(encode_performance(reference, codec), codec)
    write_midi_notes(decoded, tmp_path / "decoded.mid")
    reread = read_midi_notes(tmp_path / "decoded.mid")
    assert identity(prepare_notes(reread)) == identity(reference)


def test_empty_performance_is_one_empty_window():
    codec = MidiEventCodec()
    windows = encode_performance([], codec)
    assert len(windows) == 1 and codec.ids_to_strings(windows[0].tokens) == ["tie", "EOS"]
    assert decode_performance(windows, codec)[0] == []


def test_stitching_drops_events_a_window_places_inside_the_next_one():
    codec = MidiEventCodec()
    names = ["tie", "program:0", "velocity:1", "pitch:60", "shift:700", "pitch:62", "EOS"]
    tokens = [codec.string_to_id(name) for name in names]
    overlapping = [EncodedWindow(0.0, 10.0, tokens), EncodedWindow(5.0, 15.0, tokens[:1] + tokens[-1:])]
    decoded, stats = decode_performance(overlapping, codec)
    assert stats.reasons["past_window_end"] == 2  # shift:700 (7 s) lies past the next start at 5 s
    assert identity(decoded) == [(0.0, 5.0, 60, 0, False)]  # not tied in the next window: ends there


# ------------------------------------------------------------------------- F1 score
def test_note_f1_onsets_offsets_and_programs():
    reference = [Note(1.0, 2.0, 60), Note(3.0, 4.0, 64, program=40), Note(5.0, 5.01, 36, is_drum=True)]
    assert note_f1(reference, reference, with_offsets=True).f1 == 1.0
    late = [Note(1.06, 2.0, 60), *reference[1:]]  # 60 ms late: beyond the 50 ms tolerance
    assert note_f1(reference, late, with_offsets=False).num_matched == 2
    short = [Note(1.0, 1.5, 60), *reference[1:]]
    assert note_f1(reference, short, with_offsets=False).f1 == 1.0
    assert note_f1(reference, short, with_offsets=True).num_matched == 2
    other_program = [reference[0], Note(3.0, 4.0, 64, program=0), reference[2]]
    assert note_f1(reference, other_program, with_offsets=True).f1 == 1.0
    assert note_f1(reference, other_program, with_offsets=True, program_aware=True).num_matched == 2
    drum_long = [*reference[:2], Note(5.0, 9.0, 36, is_drum=True)]  # drums: onset only
    assert note_f1(reference, drum_long, with_offsets=True).f1 == 1.0
    assert note_f1([], [], with_offsets=True).f1 == 1.0 and note_f1(reference, [], with_offsets=False).f1 == 0.0


def test_measure_roundtrip_reports_perfect_scores():
    notes = random_performance(3)
    result = measure_roundtrip(notes, MidiEventCodec())
    assert result.identical and result.onset.f1 == result.onset_offset.f1 == 1.0
    assert result.program_aware_onset_offset.f1 == 1.0
    assert result.num_windows == int(max(n.end for n in prepare_notes(notes)) // 10) + 1


# ------------------------------------------------------------------------ the corpus
def load_corpus_tool():
    spec = importlib.util.spec_from_file_location("midi_roundtrip_corpus", ROOT / "tools/midi_roundtrip_corpus.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus_tool():
    pytest.importorskip("music21")
    return load_corpus_tool()


@pytest.fixture(scope="module")
def exported_corpus(corpus_tool, tmp_path_factory):
    """Export the test pieces with music21 once; later calls reuse the MIDI files."""
    export_dir = tmp_path_factory.mktemp("corpus_midi")
    pieces = corpus_roundtrip.select_pieces(CORPUS_TEST_PIECES)
    corpus_roundtrip.export_pieces(pieces, export_dir)
    return pieces, export_dir


def test_corpus_pieces_round_trip_with_perfect_f1(corpus_tool, exported_corpus):
    pieces, export_dir = exported_corpus
    results = corpus_roundtrip.run_corpus(pieces, export_dir, window_seconds=10.0)
    measured = [r for r in results if r.error is None]
    report = corpus_roundtrip.report(results)
    assert len(measured) >= MIN_MEASURED_PIECES, report
    assert all(r.perfect for r in measured), report
    assert corpus_roundtrip.pooled(measured, "onset").f1 == 1.0
    assert corpus_roundtrip.pooled(measured, "onset_offset").f1 == 1.0
    assert sum(r.num_windows for r in measured) > 3 * len(measured)  # pieces span many windows


def test_corpus_tool_command_line(corpus_tool, exported_corpus, capsys):
    _, export_dir = exported_corpus
    status = corpus_tool.main(["--piece", "bach:3", "--window-seconds", "20", "--export-dir", str(export_dir),
                               "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0 and "3 measured" in out and "pooled onset+offset F1: 1.0000" in out
    assert corpus_tool.main(["--piece", "nobody-at-all", "--no-progress"]) == 2
