"""Note-level transcription F1 (mir_eval) and the codec's whole-piece round-trip check.

Notes are matched with `mir_eval.transcription.match_notes` (onsets within 50 ms, pitch within
50 cents; with offsets also within max(50 ms, 20 % of the duration)), separately per instrument
group so that a note can only match a note of its own group; counts are pooled over groups.
Drums have no offsets and are matched on onsets only, also in the onset+offset score.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import mir_eval
import numpy as np

from mt_music.midi.codec import MidiEventCodec
from mt_music.midi.events import DecodeStats
from mt_music.midi.notes import Note, prepare_notes
from mt_music.midi.windows import (
    DEFAULT_WINDOW_SECONDS,
    decode_performance,
    encode_performance,
)

ONSET_TOLERANCE_SECONDS = 0.05
OFFSET_RATIO = 0.2


@dataclasses.dataclass(frozen=True)
class F1Score:
    """Pooled note matching counts and the scores derived from them."""

    num_reference: int
    num_estimated: int
    num_matched: int

    @property
    def precision(self) -> float:
        return _ratio(self.num_matched, self.num_estimated, empty=self.num_reference == 0)

    @property
    def recall(self) -> float:
        return _ratio(self.num_matched, self.num_reference, empty=self.num_estimated == 0)

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 0.0 if total == 0 else 2 * self.precision * self.recall / total


def _ratio(matched: int, total: int, *, empty: bool) -> float:
    # Nothing to find and nothing found counts as perfect; otherwise an empty side scores 0.
    if total == 0:
        return 1.0 if empty else 0.0
    return matched / total


def note_f1(reference: Sequence[Note], estimate: Sequence[Note], *, with_offsets: bool,
            program_aware: bool = False, onset_tolerance: float = ONSET_TOLERANCE_SECONDS) -> F1Score:
    """Onset (or onset+offset) F1 of estimated against reference notes.

    program_aware=False pools all pitched instruments (drums stay apart); True matches only
    within the same program. `onset_tolerance` (seconds; 50 ms, mir_eval's default) for sweeps.
    """
    group_of = _program_group if program_aware else _drum_group
    matched = 0
    for group in {group_of(note) for note in [*reference, *estimate]}:
        ref = [note for note in reference if group_of(note) == group]
        est = [note for note in estimate if group_of(note) == group]
        matched += _count_matches(ref, est, with_offsets=with_offsets and not group[0], onset_tolerance=onset_tolerance)
    return F1Score(len(reference), len(estimate), matched)


def _drum_group(note: Note) -> tuple[bool]:
    return (note.is_drum,)


def _program_group(note: Note) -> tuple[bool, int]:
    return (note.is_drum, 0 if note.is_drum else note.program)


def _count_matches(reference: Sequence[Note], estimate: Sequence[Note], *, with_offsets: bool,
                   onset_tolerance: float = ONSET_TOLERANCE_SECONDS) -> int:
    if not reference or not estimate:
        return 0
    ref_intervals, ref_pitches = _intervals_and_hz(reference)
    est_intervals, est_pitches = _intervals_and_hz(estimate)
    pairs = mir_eval.transcription.match_notes(
        ref_intervals, ref_pitches, est_intervals, est_pitches,
        onset_tolerance=onset_tolerance,
        offset_ratio=OFFSET_RATIO if with_offsets else None)
    return len(pairs)


def _intervals_and_hz(notes: Sequence[Note]) -> tuple[np.ndarray, np.ndarray]:
    intervals = np.array([[note.start, note.end] for note in notes], dtype=float)
    pitches = mir_eval.util.midi_to_hz(np.array([note.pitch for note in notes], dtype=float))
    return intervals, pitches


# ------------------------------------------------------------------------ round trip
@dataclasses.dataclass(frozen=True)
class RoundtripResult:
    """How well whole-piece windowing -> stitching reproduces the 10 ms-grid reference."""

    num_windows: int
    onset: F1Score
    onset_offset: F1Score
    program_aware_onset_offset: F1Score
    identical: bool  # the decoded notes equal the reference exactly (velocity aside)
    stats: DecodeStats


def measure_roundtrip(notes: Sequence[Note], codec: MidiEventCodec,
                      window_seconds: float = DEFAULT_WINDOW_SECONDS) -> RoundtripResult:
    """Encode a performance in consecutive windows, decode and stitch, score against the grid."""
    reference = prepare_notes(notes, codec.steps_per_second)
    windows = encode_performance(notes, codec, window_seconds)
    decoded, stats = decode_performance(windows, codec)
    return RoundtripResult(
        num_windows=len(windows),
        onset=note_f1(reference, decoded, with_offsets=False),
        onset_offset=note_f1(reference, decoded, with_offsets=True),
        program_aware_onset_offset=note_f1(reference, decoded, with_offsets=True, program_aware=True),
        identical=_sorted_identity(reference) == _sorted_identity(decoded),
        stats=stats,
    )


def _sorted_identity(notes: Sequence[Note]) -> list[tuple]:
    return sorted((note.start, note.end, note.pitch, note.program, note.is_drum) for note in notes)
