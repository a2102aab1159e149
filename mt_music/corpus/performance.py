"""Notes and times read from the MusicXML that is engraved: the "MIDI of the same MusicXML".

`read_score(root)` walks the (single) part measure by measure, as a MusicXML reader does:
<divisions>, <backup>/<forward>, <chord/>, grace notes (no duration), ties, <sound tempo>,
dynamics. The result knows every note's onset and duration in quarters and every measure's start
and length (a pickup measure is as long as its content), so system spans follow from measure
ranges. `perform(...)` turns it into seconds with the tempo map (scaled by the augmentation's tempo
factor), merges ties into single notes, places grace notes just before their main note and gives
velocities from the dynamics plus seeded humanisation. Pure Python; no music21 needed.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import xml.etree.ElementTree as ET
from fractions import Fraction

import numpy as np

from mt_music.corpus import musicxml
from mt_music.midi import Note

DYNAMIC_VELOCITY = {"pppp": 24, "ppp": 32, "pp": 42, "p": 54, "mp": 66, "mf": 78, "f": 90, "ff": 102,
                    "fff": 112, "ffff": 120, "sf": 100, "sfz": 100, "fz": 100, "fp": 90, "rfz": 100}
DEFAULT_VELOCITY = 78  # mezzo-forte
GRACE_SECONDS = 0.07
MIN_NOTE_SECONDS = 0.01


@dataclasses.dataclass(frozen=True)
class ScoreNote:
    """A sounding note as written: times in quarters from the piece start."""

    measure: int
    onset: Fraction  # absolute, quarters
    duration: Fraction  # quarters; 0 for grace notes
    pitch: int  # MIDI
    staff: str
    voice: str
    grace: bool
    tie_start: bool
    tie_stop: bool
    velocity: int  # from the dynamics in force


@dataclasses.dataclass
class ScoreTiming:
    """What `read_score` finds: measures, notes, tempo and time-signature information."""

    measure_starts: list[Fraction]  # quarters, one per measure
    measure_lengths: list[Fraction]
    notes: list[ScoreNote]
    tempo_events: list[tuple[Fraction, float]]  # (quarter position, quarter notes per minute)
    first_time_signature: tuple[int, int] | None

    @property
    def total_quarters(self) -> Fraction:
        return self.measure_starts[-1] + self.measure_lengths[-1] if self.measure_starts else Fraction(0)


def default_tempo(time_signature: tuple[int, int] | None) -> float:
    """Quarter notes per minute when the score has no tempo: a moderate beat for the metre."""
    if time_signature is None:
        return 96.0
    beats, beat_type = time_signature
    if beat_type <= 2:
        return 120.0  # half note = 60 (alla breve, Renaissance polyphony)
    if beat_type == 8 and beats % 3 == 0 and beats > 3:
        return 99.0  # dotted quarter = 66
    if beat_type == 8:
        return 84.0
    if beat_type >= 16:
        return 54.0
    return 96.0








def read_score(root: ET.Element) -> ScoreTiming:
    """Walks the single part of a score-partwise document.

    Positions inside a measure are integers in the current <divisions>; they become quarters
    (Fractions) only once per note and per measure, which keeps long pieces fast.
    """
    part = musicxml.part_of(root)
    divisions = 1
    velocity = DEFAULT_VELOCITY
    time_signature: tuple[int, int] | None = None
    first_time_signature = None
    measure_starts: list[Fraction] = []
    measure_lengths: list[Fraction] = []
    notes: list[ScoreNote] = []
    tempo_events: list[tuple[Fraction, float]] = []
    start = Fraction(0)
    for index, measure in enumerate(part.findall("measure")):
        # quarters already walked in this measure under earlier <divisions> values (rarely > 0)
        base = Fraction(0)
        position = last_onset = longest = 0  # in `divisions`
        longest_quarters = Fraction(0)
        for element in measure:
            tag = element.tag
            if tag == "attributes":
                new_divisions = int(float(element.findtext("divisions") or divisions))
                if new_divisions != divisions:
                    longest_quarters = max(longest_quarters, base + Fraction(longest, divisions))
                    base += Fraction(position, divisions)
                    position = last_onset = longest = 0
                    divisions = new_divisions
                beats, beat_type = element.findtext("time/beats"), element.findtext("time/beat-type")
                if beats and beat_type:
                    try:
                        time_signature = (int(beats.split("+")[0]), int(beat_type))
                    except ValueError:
                        pass
                    if first_time_signature is None:
                        first_time_signature = time_signature
            elif tag == "backup":
                position = max(position - musicxml.duration(element), -int(base * divisions))
            elif tag == "forward":
                position += musicxml.duration(element)
                longest = max(longest, position)
            elif tag in ("direction", "sound"):
                sounds = [element] if tag == "sound" else element.findall("sound")
                here = start + base + Fraction(position, divisions)
                for sound in sounds:
                    if sound.get("tempo"):
                        try:
                            qpm = float(sound.get("tempo"))
                        except ValueError:
                            qpm = 0.0
                        if qpm > 0:
                            tempo_events.append((here, qpm))
                    if sound.get("dynamics"):
                        try:
                            velocity = _clamp_velocity(round(0.9 * float(sound.get("dynamics"))))
                        except ValueError:
                            pass
                if tag == "direction" and not any(s.get("dynamics") for s in sounds):
                    for mark in element.iterfind("direction-type/dynamics/*"):
                        velocity = DYNAMIC_VELOCITY.get(mark.tag, velocity)
            elif tag == "note":
                grace = element.find("grace") is not None
                chord = element.find("chord") is not None
                duration = 0 if grace else musicxml.duration(element)
                onset = last_onset if chord else position
                if not chord:
                    last_onset = position
                    position += duration
                longest = max(longest, position, onset + duration)
                pitch_element = element.find("pitch")
                if pitch_element is None or element.find("cue") is not None:
                    continue
                ties = {tie.get("type") for tie in element.findall("tie")}
                notes.append(ScoreNote(
                    measure=index,
                    onset=start + base + Fraction(onset, divisions),
                    duration=Fraction(duration, divisions),
                    pitch=musicxml.midi_pitch(pitch_element),
                    staff=(element.findtext("staff") or "1").strip(),
                    voice=(element.findtext("voice") or "1").strip(),
                    grace=grace,
                    tie_start="start" in ties,
                    tie_stop="stop" in ties,
                    velocity=velocity,
                ))
        length = max(longest_quarters, base + Fraction(longest, divisions))
        if length <= 0:
            length = Fraction(4 * time_signature[0], time_signature[1]) if time_signature else Fraction(4)
        measure_starts.append(start)
        measure_lengths.append(length)
        start += length
    return ScoreTiming(measure_starts, measure_lengths, notes, sorted(tempo_events), first_time_signature)


def _clamp_velocity(value: int) -> int:
    return max(1, min(127, int(value)))




# ---------------------------------------------------------------------------------------------------
# Tempo map and performance
# ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TempoMap:
    """Piecewise-constant tempo: quarters → seconds."""

    positions: tuple[Fraction, ...]  # quarter positions where a tempo starts (first is 0)
    qpm: tuple[float, ...]
    seconds_at: tuple[float, ...]  # seconds at each position

    @classmethod
    def build(cls, events: list[tuple[Fraction, float]], default_qpm: float, factor: float = 1.0) -> TempoMap:
        points: dict[Fraction, float] = {Fraction(0): default_qpm}
        for position, qpm in events:
            points[position] = qpm  # a later event at the same position wins
        positions = sorted(points)
        qpms = [points[p] * factor for p in positions]
        seconds = [0.0]
        for previous, current, qpm in zip(positions, positions[1:], qpms):
            seconds.append(seconds[-1] + float(current - previous) * 60.0 / qpm)
        return cls(tuple(positions), tuple(qpms), tuple(seconds))

    def seconds(self, quarters: Fraction | float) -> float:
        index = bisect.bisect_right(self.positions, quarters) - 1
        index = max(index, 0)
        return self.seconds_at[index] + float(quarters - self.positions[index]) * 60.0 / self.qpm[index]

    @property
    def initial_qpm(self) -> float:
        return self.qpm[0]


@dataclasses.dataclass
class Performance:
    notes: list[Note]  # whole piece, seconds, sorted by (start, pitch)
    measure_seconds: list[float]  # start of each measure, plus the end of the piece
    tempo: TempoMap
    tempo_from_score: bool


def perform(
    timing: ScoreTiming,
    *,
    tempo_factor: float = 1.0,
    velocity_sigma: float = 0.0,
    rng: np.random.Generator | None = None,
    program: int = 0,
) -> Performance:
    """Seconds for everything: ties merged, grace notes before their main note, velocities."""
    from_score = bool(timing.tempo_events) and timing.tempo_events[0][0] == 0
    tempo = TempoMap.build(timing.tempo_events, default_tempo(timing.first_time_signature), tempo_factor)
    rng = rng or np.random.default_rng(0)
    merged = _merge_ties(timing.notes)
    notes: list[Note] = []
    grace_groups: dict[tuple[str, str, Fraction], list[ScoreNote]] = {}
    for note in merged:
        if note.grace:
            grace_groups.setdefault((note.staff, note.voice, note.onset), []).append(note)
            continue
        start, end = tempo.seconds(note.onset), tempo.seconds(note.onset + note.duration)
        notes.append(Note(start, max(end, start + MIN_NOTE_SECONDS), note.pitch,
                          _humanised(note.velocity, velocity_sigma, rng), program))
    for (_, _, onset), group in grace_groups.items():
        principal = tempo.seconds(onset)
        for rank, note in enumerate(group):
            start = max(0.0, principal - (len(group) - rank) * GRACE_SECONDS)
            notes.append(Note(start, max(start + MIN_NOTE_SECONDS, principal - (len(group) - rank - 1) * GRACE_SECONDS),
                              note.pitch, _humanised(note.velocity, velocity_sigma, rng), program))
    notes.sort(key=lambda n: (n.start, n.pitch, n.end))
    measure_seconds = [tempo.seconds(start) for start in timing.measure_starts]
    measure_seconds.append(tempo.seconds(timing.total_quarters))
    return Performance(notes, measure_seconds, tempo, from_score)


def _humanised(velocity: int, sigma: float, rng: np.random.Generator) -> int:
    if sigma <= 0:
        return _clamp_velocity(velocity)
    return _clamp_velocity(round(velocity + rng.normal(0.0, sigma)))


def _merge_ties(notes: list[ScoreNote]) -> list[ScoreNote]:
    """One note per tied chain: a tie-stop note extends the open note of the same pitch ending there."""
    ordered = sorted(notes, key=lambda n: (n.onset, n.grace is False))
    open_ties: dict[tuple[int, Fraction], int] = {}  # (pitch, end) -> index in result
    result: list[ScoreNote] = []
    for note in ordered:
        key = (note.pitch, note.onset)
        if note.tie_stop and not note.grace and key in open_ties:
            index = open_ties.pop(key)
            extended = dataclasses.replace(result[index], duration=result[index].duration + note.duration,
                                           tie_start=note.tie_start)
            result[index] = extended
            if note.tie_start:
                open_ties[(note.pitch, extended.onset + extended.duration)] = index
            continue
        result.append(note)
        if note.tie_start and not note.grace:
            open_ties[(note.pitch, note.onset + note.duration)] = len(result) - 1
    return result


def seconds_per_measure(timing: ScoreTiming, tempo: TempoMap) -> list[float]:
    return [tempo.seconds(s + length) - tempo.seconds(s)
            for s, length in zip(timing.measure_starts, timing.measure_lengths)]


def clip_notes(notes: list[Note], start: float, end: float) -> list[Note]:
    """Notes sounding in [start, end), cut to it and shifted to start at 0, on the 10 ms grid.

    A note tied over the start is re-struck at 0 (the system shows its tied-to head); the result
    is `midi.prepare_notes`-canonical (what the event codec reproduces) and ends by `end - start`.
    """
    from mt_music.midi import prepare_notes

    length = end - start
    clipped = [
        dataclasses.replace(n, start=max(n.start, start) - start, end=min(n.end, end) - start)
        for n in notes if n.end > start + 1e-9 and n.start < end - 1e-9
    ]
    limit = math.floor(length * 100 + 1e-6) / 100
    result = []
    for note in prepare_notes(clipped):
        if note.end > limit:
            note = dataclasses.replace(note, end=limit)
        if note.end > note.start:
            result.append(note)
    return result
