"""Pianoform reduction: any score of 1-6 parts → one part of one or two staves, which LMX can describe.

  * one ordinary part: kept as one staff (folk tunes);
  * a keyboard score (two PartStaffs of one StaffGroup and nothing else): kept as is;
  * 2-6 ordinary parts with the same number of measures (chorales, quartets, madrigals, masses): the upper
    ceil(n/2) parts go to staff 1 and the rest to staff 2, each part one VOICE (voices 1-3 on
    staff 1, 5-7 on staff 2, like MuseScore/GrandStaff), stems up/down by voice, one clef per
    staff chosen from its range; lyrics, chord symbols, instruments and layout objects dropped.
Anything else raises `PianoformError` with the reason. Pure music21, so both the corpus builder and
`python -m mt_music.lmx linearize --pianoform` use it (the corpus turns the error into its PieceError).
"""

from __future__ import annotations

import math
import statistics

from mt_music.lmx.errors import LmxError

MAX_REDUCED_PARTS = 6


class PianoformError(LmxError):
    """A score cannot be reduced to pianoform; the message is the reason."""


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:200]


def pianoform(score):
    """A new Score of one part with one or two staves (see the module docstring)."""
    from music21 import stream

    try:
        score.toSoundingPitch(inPlace=True)
    except Exception as error:
        raise PianoformError(f"sounding pitch failed: {_one_line(error)}") from None
    _drop_unwanted(score)
    parts = [part for part in score.parts if part.recurse().notes.first() is not None]
    if not parts:
        raise PianoformError("no notes")
    staffs = [part for part in parts if isinstance(part, stream.PartStaff)]
    if staffs:
        if len(staffs) != len(parts):
            raise PianoformError("keyboard staves together with other parts")
        if len(staffs) > 2:
            raise PianoformError(f"keyboard score with {len(staffs)} staves")
        return _keyboard_score(score, staffs)
    if len(parts) == 1:
        return _single_staff_score(parts[0])
    if len(parts) > MAX_REDUCED_PARTS:
        raise PianoformError(f"{len(parts)} parts (at most {MAX_REDUCED_PARTS} are reduced to two staves)")
    return _reduce_parts(parts)


def _drop_unwanted(score) -> None:
    """Lyrics, chord symbols, layout hints, instruments and ottava lines (pitches are sounding)."""
    from music21 import harmony, instrument, layout, spanner

    for element in list(score.recurse()):
        if isinstance(element, (harmony.Harmony, layout.LayoutBase, instrument.Instrument)):
            element.activeSite.remove(element)
        elif getattr(element, "isNote", False) or getattr(element, "isChord", False):
            if element.lyrics:
                element.lyrics = []
    for ottava in list(score.recurse().getElementsByClass(spanner.Ottava)):
        ottava.activeSite.remove(ottava)
    for part in score.parts:
        for ottava in list(part.spannerBundle.getByClass(spanner.Ottava)):
            part.spannerBundle.remove(ottava)


def _measures(part) -> list:
    from music21 import stream

    return list(part.getElementsByClass(stream.Measure))


def _keyboard_score(score, staffs):
    from music21 import layout, stream

    result = stream.Score()
    for staff in staffs:
        if not _measures(staff):
            raise PianoformError("keyboard staff without measures")
        result.insert(0, staff)
    if len(staffs) == 2:
        if len(_measures(staffs[0])) != len(_measures(staffs[1])):
            raise PianoformError("keyboard staves have different measure counts")
        result.insert(0, layout.StaffGroup(list(staffs), symbol="brace", barTogether=True))
    return result


def _single_staff_score(part):
    from music21 import stream

    if not _measures(part):
        part.makeMeasures(inPlace=True)
    result = stream.Score()
    result.insert(0, part)
    return result


def _reduce_parts(parts):
    from music21 import clef, layout, stream

    measure_lists = [_measures(part) for part in parts]
    count = len(measure_lists[0])
    if count == 0 or any(len(ms) != count for ms in measure_lists):
        raise PianoformError("parts have different measure counts")
    # Measures are matched by index. A part whose measure is over- or under-full (a data error
    # in some source files) then simply has a longer or shorter voice in that measure; the
    # performance follows the engraved measure, so all modalities still agree.
    order = sorted(range(len(parts)), key=lambda i: -_mean_pitch(parts[i]))  # high to low
    upper_count = math.ceil(len(parts) / 2)
    groups = [sorted(order[:upper_count]), sorted(order[upper_count:])]
    # keep score order inside a staff unless it contradicts pitch (then pitch order wins)
    groups = [sorted(group, key=lambda i: -_mean_pitch(parts[i])) for group in groups]
    staves = []
    for staff_index, group in enumerate(groups):
        pitches = [p.midi for i in group for n in parts[i].recurse().notes for p in n.pitches]
        chosen_clef = clef.TrebleClef() if statistics.median(pitches) >= 60 else clef.BassClef()
        first_voice_id = 1 if staff_index == 0 else 5
        staves.append(_staff_from_parts([measure_lists[i] for i in group], chosen_clef, first_voice_id,
                                         carry_marks=True))
    result = stream.Score()
    for staff in staves:
        result.insert(0, staff)
    result.insert(0, layout.StaffGroup(staves, symbol="brace", barTogether=True))
    return result


def _mean_pitch(part) -> float:
    pitches = [p.midi for n in part.recurse().notes for p in n.pitches]
    return statistics.fmean(pitches) if pitches else 60.0


def _staff_from_parts(measure_lists, staff_clef, first_voice_id: int, carry_marks: bool):
    """One PartStaff whose measure i has one Voice per voice of measure i of each source part.

    Voices are numbered from `first_voice_id` in source order; the first points its stems up, the
    last down (a single voice keeps its own stems). More than four voices on a staff is refused.
    """
    from music21 import bar, dynamics, key, meter, stream, tempo

    staff = stream.PartStaff()
    for index, sources in enumerate(zip(*measure_lists)):
        first = sources[0]
        measure = stream.Measure(number=first.number)
        if index == 0:
            measure.insert(0, staff_clef)
        for element in first.getElementsByClass((key.KeySignature, meter.TimeSignature)):
            measure.insert(element.offset, element)
        if carry_marks:
            for element in first.getElementsByClass((tempo.MetronomeMark, dynamics.Dynamic)):
                measure.insert(element.offset, element)
        if isinstance(first.rightBarline, bar.Barline) and not isinstance(first.rightBarline, bar.Repeat):
            measure.rightBarline = bar.Barline(first.rightBarline.type)
        layers = []
        for source in sources:
            inner = [v for v in source.voices if v.notesAndRests.first() is not None]
            if inner:
                layers.extend([(v.offset + e.offset, e) for e in v.notesAndRests] for v in inner)
            else:
                layers.append([(e.offset, e) for e in source.notesAndRests])
        if len(layers) > 4:
            raise PianoformError(f"{len(layers)} voices on one staff in measure {index + 1} (at most 4)")
        for number, elements in enumerate(layers):
            voice = stream.Voice(id=str(first_voice_id + number))
            direction = "down" if number == len(layers) - 1 or number % 2 == 1 else "up"
            for offset, element in elements:
                if len(layers) > 1:
                    element.stemDirection = direction
                voice.insert(offset, element)
            measure.insert(0, voice)
        staff.append(measure)
    return staff
