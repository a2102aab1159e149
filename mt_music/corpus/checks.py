"""Conformance checks on built examples (shards), independent of how they were built.

For every system example:
  lmx_source    its LMX equals `lmx.linearize(piece MusicXML, system=i)` (its own MusicXML)
  lmx_notes     that LMX, delinearized with the time signature in force (LMX does not restate
                it at a system start), gives MusicXML whose notes (measure, onset, pitch with
                alteration, duration, grace) equal the source measures' notes (onsets and
                durations within 1/100 quarter: a few sources round tuplet durations)
  notes_in_span every MIDI note lies inside [0, span length]
  audio_length  audio samples = (span length + release tail) × 44100 (± 1 sample), and the
                stored FLAC decodes to that many samples
  staff_height  the image estimator measures 18 ± 1 px
  staves        the image has as many staves as the LMX says
and for the piece record: the piece audio lasts the piece (+ tail); its notes are those of its
systems shifted by their span starts.
"""

from __future__ import annotations

import dataclasses
import io
import pathlib
from collections import Counter
from fractions import Fraction

import numpy as np
from PIL import Image

from mt_music import audio, lmx
from mt_music.audio.io import decode_flac
from mt_music.audio.synthesis import RELEASE_TAIL_SECONDS
from mt_music.corpus import musicxml, notation
from mt_music.corpus.examples import notes_from_columns
from mt_music.image import preprocessing, staves

CHECKS = ("readable", "lmx_source", "lmx_notes", "notes_in_span", "audio_length", "staff_height", "staves", "piece")


@dataclasses.dataclass
class CheckReport:
    examples: int = 0
    passed: Counter = dataclasses.field(default_factory=Counter)
    failures: list[dict] = dataclasses.field(default_factory=list)
    staff_heights: list[float] = dataclasses.field(default_factory=list)

    def add(self, example_id: str, check: str, ok: bool, detail: str = "") -> None:
        if ok:
            self.passed[check] += 1
        else:
            self.failures.append({"id": example_id, "check": check, "detail": detail})

    def merge(self, other: CheckReport) -> None:
        self.examples += other.examples
        self.passed.update(other.passed)
        self.failures.extend(other.failures)
        self.staff_heights.extend(other.staff_heights)

    def totals(self) -> dict[str, tuple[int, int]]:
        failed = Counter(f["check"] for f in self.failures)
        return {check: (self.passed[check], self.passed[check] + failed[check]) for check in CHECKS}

    @property
    def ok(self) -> bool:
        return not self.failures


DURATION_TOLERANCE = Fraction(1, 100)  # quarters; some sources encode triplets as 3347/10080


def _unmatched(expected: Counter, got: Counter) -> tuple[list, list]:
    """Notes of each side without a partner: same measure, pitch and grace flag, onset and
    duration equal within DURATION_TOLERANCE (LMX note types are exact; a few corpus files
    store tuplet durations rounded to their <divisions>)."""
    def groups(notes: Counter) -> dict:
        grouped: dict = {}
        for (measure, onset, pitch, duration, grace), count in notes.items():
            grouped.setdefault((measure, pitch, grace), []).extend([(onset, duration)] * count)
        return {key: sorted(values) for key, values in grouped.items()}

    left, right = groups(expected), groups(got)
    missing, extra = [], []
    for key in sorted(set(left) | set(right), key=str):
        a, b = left.get(key, []), right.get(key, []).copy()
        for onset, duration in a:
            partner = next((i for i, (o, d) in enumerate(b) if abs(o - onset) <= DURATION_TOLERANCE
                            and abs(d - duration) <= DURATION_TOLERANCE), None)
            if partner is None:
                missing.append((*key, onset, duration))
            else:
                b.pop(partner)
        extra.extend((*key, o, d) for o, d in b)
    return missing, extra


def lmx_staff_count(tokens: list[str]) -> int:
    """Staves a system's LMX declares (the clefs restated at its start carry staff:N when > 1)."""
    staves = {int(t.split(":")[1]) for t in tokens if t.startswith("staff:")}
    return max(staves) if staves else 1


def check_system(root, system: dict, report: CheckReport, tail: float = RELEASE_TAIL_SECONDS) -> None:
    example_id = system["id"]
    index, first, stop = system["system_index"], system["measure_start"], system["measure_stop"]
    tokens = system["lmx"].split()
    source_tokens = lmx.linearize(root, system=index)
    report.add(example_id, "lmx_source", tokens == source_tokens,
               f"{len(tokens)} stored vs {len(source_tokens)} linearized tokens")
    # LMX does not restate the time signature at a system start (OLiMPiC); the reader of one
    # system is given the one in force, as a reader of the page would know it
    result = lmx.delinearize(tokens, time_signature=notation.time_signature_before(root, first))
    expected = notation.measure_notes(root, first, stop)
    got = notation.measure_notes(musicxml.parse(result.musicxml))
    missing, extra = _unmatched(expected, got)
    report.add(example_id, "lmx_notes", not missing and not extra and not result.problems,
               f"{len(missing)} missing, {len(extra)} extra, problems {result.problems[:2]}; "
               f"e.g. {missing[:2]} / {extra[:2]}")

    length = system["span_end"] - system["span_start"]
    notes = notes_from_columns(system["notes"])
    outside = [n for n in notes if n.start < -1e-6 or n.end > length + 1e-6 or n.end <= n.start]
    report.add(example_id, "notes_in_span", not outside, f"{len(outside)} notes outside [0, {length:.3f}]")

    expected_samples = int(round((length + tail) * audio.SAMPLE_RATE))
    waveform, rate = decode_flac(system["_flac"])
    report.add(example_id, "audio_length",
               abs(system["audio_samples"] - expected_samples) <= 1 and len(waveform) == system["audio_samples"]
               and rate == audio.SAMPLE_RATE,
               f"{system['audio_samples']} stored, {len(waveform)} decoded, {expected_samples} expected")

    with Image.open(io.BytesIO(system["_png"])) as image:
        gray = np.asarray(image.convert("L"))
    found = staves.detect_staves(gray)
    height = float(np.mean([s.height for s in found])) if found else float("nan")
    report.staff_heights.append(height)
    report.add(example_id, "staff_height", bool(found) and abs(height - preprocessing.TARGET_STAFF_HEIGHT) <= 1.0,
               f"{height:.2f} px")
    declared = lmx_staff_count(tokens)
    report.add(example_id, "staves", len(found) == declared, f"{len(found)} detected, LMX says {declared}")


def check_piece(record: dict, systems: list[dict], report: CheckReport, tail: float = RELEASE_TAIL_SECONDS) -> None:
    from mt_music.midi import prepare_notes

    problems = []
    if record.get("audio_samples"):
        expected = int(round((record["duration"] + tail) * audio.SAMPLE_RATE))
        if abs(record["audio_samples"] - expected) > 1:
            problems.append(f"piece audio {record['audio_samples']} samples, expected {expected}")
    kept = {s["system_index"] for s in systems}
    if kept == set(range(record["num_systems"])):  # all systems kept: notes must be their union
        union = prepare_notes([
            dataclasses.replace(n, start=n.start + s["span_start"], end=n.end + s["span_start"])
            for s in systems for n in notes_from_columns(s["notes"])])
        stored = notes_from_columns(record["notes"])
        key = lambda n: (round(n.start, 2), n.pitch)  # noqa: E731
        if Counter(map(key, union)) != Counter(map(key, stored)):
            problems.append("piece notes differ from the union of the system notes")
    report.add(record["id"], "piece", not problems, "; ".join(problems))


def check_shard(path: pathlib.Path | str) -> CheckReport:
    """The checks of one shard; a damaged shard or payload fails the `readable` check instead of raising."""
    from mt_music.corpus.build import read_shard

    report = CheckReport()
    try:
        record, systems = read_shard(pathlib.Path(path))
        root = musicxml.parse(record["_musicxml"])
    except Exception as error:  # noqa: BLE001 - a damaged tar, JSON or MusicXML: report it, check the rest
        report.add(pathlib.Path(path).name, "readable", False, f"cannot read the shard: {_reason(error)}")
        return report
    for system in systems:
        report.examples += 1
        try:
            check_system(root, system, report)
        except Exception as error:  # noqa: BLE001 - e.g. a damaged PNG or FLAC payload
            report.add(system.get("id", pathlib.Path(path).name), "readable", False, _reason(error))
        else:
            report.add(system["id"], "readable", True)
    try:
        check_piece(record, systems, report)
    except Exception as error:  # noqa: BLE001 - a piece record with missing or damaged fields
        report.add(record.get("id", pathlib.Path(path).name), "readable", False, _reason(error))
    return report


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"


def format_report(report: CheckReport) -> str:
    lines = [f"{report.examples} system examples checked"]
    for check, (passed, total) in report.totals().items():
        share = f"{100 * passed / total:.2f} %" if total else "-"
        lines.append(f"  {check:<14}{passed:>6} / {total:<6} {share}")
    heights = np.asarray([h for h in report.staff_heights if np.isfinite(h)])
    if heights.size:
        lines.append(f"  staff height measured: mean {heights.mean():.2f} px, min {heights.min():.2f}, "
                     f"max {heights.max():.2f}")
    for failure in report.failures[:30]:
        lines.append(f"  FAIL {failure['check']}: {failure['id']}: {failure['detail']}")
    if len(report.failures) > 30:
        lines.append(f"  ... {len(report.failures) - 30} more failures")
    return "\n".join(lines)
