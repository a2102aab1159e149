"""The pianoform MusicXML itself: clean-up, system breaks, printed accidentals, note checks.

Everything here works on the ElementTree of music21's export, so the document that verovio
engraves, that LMX linearizes and that the performance is read from is one and the same.

* `clean(root)`: one part; no titles/part names on the page; repeats, voltas and jumps removed so
  the engraving shows exactly what is played once (we neither expand nor honour repeats); old
  layout breaks removed.
* `set_system_breaks(root, starts)`: `<print new-system="yes"/>` at each system's first measure,
  which `lmx.linearize(xml, system=i)` and verovio (breaks "encoded") both honour.
* `respell_accidentals(root, starts)`: printed accidentals that let a reader (and LMX's
  delinearizer) recover every pitch: per measure, staff, step and octave in onset order, from the
  key signature, earlier accidentals and ties, with a courtesy accidental on a tied note that
  starts a system (a system is read on its own).
* `measure_notes(root)`: (measure, onset, pitch, duration, grace) per note, for comparing a
  system's source notes with what its LMX delinearizes to.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from fractions import Fraction

from mt_music.corpus.musicxml import measures, part_of
from mt_music.corpus.performance import read_score
from mt_music.lmx.vocabulary import key_signature_alter

ACCIDENTAL_FOR_ALTER = {-2: "flat-flat", -1: "flat", 0: "natural", 1: "sharp", 2: "double-sharp"}
ALTER_FOR_ACCIDENTAL = {"flat-flat": -2, "flat": -1, "natural": 0, "sharp": 1, "double-sharp": 2,
                        "natural-sharp": 1, "natural-flat": -1}
_JUMP_WORDS = re.compile(r"\b(d\.?\s*[cs]\.?|da\s+capo|dal\s+segno|fine|coda|segno|to\s+coda)\b", re.I)










def clean(root: ET.Element) -> ET.Element:
    """Strips what must not be on the page or in the performance (see the module docstring)."""
    part_of(root)  # exactly one part
    for tag in ("work", "movement-number", "movement-title", "identification", "credit"):
        for element in root.findall(tag):
            root.remove(element)
    for score_part in root.iter("score-part"):
        for tag in ("part-name", "part-abbreviation"):
            for element in score_part.findall(tag):
                element.text = ""
                element.set("print-object", "no")
        for tag in ("part-name-display", "part-abbreviation-display"):
            for element in score_part.findall(tag):
                score_part.remove(element)
    defaults = root.find("defaults")
    if defaults is not None:
        root.remove(defaults)
    for measure in measures(root):
        for element in list(measure):
            if element.tag == "print":
                measure.remove(element)
            elif element.tag == "barline":
                for tag in ("repeat", "ending", "segno", "coda"):
                    for child in element.findall(tag):
                        element.remove(child)
                if len(element) == 0:
                    measure.remove(element)
            elif element.tag == "direction" and _is_jump(element):
                measure.remove(element)
            elif element.tag in ("harmony", "figured-bass"):
                measure.remove(element)
            elif element.tag == "sound":
                for attribute in ("dacapo", "dalsegno", "segno", "coda", "tocoda", "fine", "forward-repeat"):
                    element.attrib.pop(attribute, None)
        for note in measure.iter("note"):
            for lyric in note.findall("lyric"):
                note.remove(lyric)
    fix_beams(root)
    return root


_BEAMABLE = {"eighth", "16th", "32nd", "64th", "128th", "256th", "512th", "1024th"}


def fix_beams(root: ET.Element) -> int:
    """Makes every beam group well formed: begin, continue..., end, within one measure and voice.

    Some sources (and notes moved between voices by the reduction) leave a group unterminated,
    which verovio draws as a beam running on across the system. A group's last note gets `end`,
    a group of one note loses its beam, beams on notes that cannot be beamed are dropped, and
    chord notes after the first carry none (LMX reads beams from the first chord note).
    Returns the number of changes.
    """
    changes = 0
    for measure in measures(root):
        streams: dict[tuple[str, bool], list[ET.Element]] = {}
        for note in measure.iter("note"):
            beams = note.findall("beam")
            if note.find("chord") is not None or note.findtext("type", "") not in _BEAMABLE \
                    or note.find("rest") is not None:
                for beam in beams:
                    note.remove(beam)
                    changes += 1
                if note.find("chord") is None:  # a rest or long note ends the groups of its voice
                    key = ((note.findtext("voice") or "1").strip(), note.find("grace") is not None)
                    streams.setdefault(key, []).append(note)
                continue
            key = ((note.findtext("voice") or "1").strip(), note.find("grace") is not None)
            streams.setdefault(key, []).append(note)
        for notes in streams.values():
            for number in ("1", "2", "3", "4", "5", "6"):
                changes += _fix_beam_level(notes, number)
    return changes


def _beam(note: ET.Element, number: str) -> ET.Element | None:
    for beam in note.findall("beam"):
        if (beam.get("number") or "1") == number:
            return beam
    return None


def _fix_beam_level(notes: list[ET.Element], number: str) -> int:
    changes = 0
    group: list[ET.Element] = []

    def close() -> int:
        fixed = 0
        members = [(n, _beam(n, number)) for n in group]
        if len(members) == 1:
            note, beam = members[0]
            if beam.text not in ("forward hook", "backward hook"):
                note.remove(beam)
                fixed += 1
        elif members:
            wanted = ["begin"] + ["continue"] * (len(members) - 2) + ["end"]
            for (_note, beam), text in zip(members, wanted):
                if beam.text != text:
                    beam.text = text
                    fixed += 1
        group.clear()
        return fixed

    for note in notes:
        beam = _beam(note, number)
        if beam is None or beam.text in ("forward hook", "backward hook"):
            changes += close()
            continue
        if beam.text == "begin" and group:
            changes += close()
        group.append(note)
        if beam.text == "end":
            changes += close()
    changes += close()
    return changes


def _is_jump(direction: ET.Element) -> bool:
    types = direction.findall("direction-type")
    for direction_type in types:
        for child in direction_type:
            if child.tag in ("segno", "coda"):
                return True
            if child.tag in ("words", "rehearsal") and child.text and _JUMP_WORDS.search(child.text):
                return True
    return any(s.get(a) for s in direction.findall("sound")
               for a in ("dacapo", "dalsegno", "segno", "coda", "tocoda", "fine"))


def set_system_breaks(root: ET.Element, starts: list[int]) -> None:
    """Exactly one system break before each measure index in `starts` (index 0 is implied)."""
    all_measures = measures(root)
    wanted = set(starts) - {0}
    for index, measure in enumerate(all_measures):
        for element in measure.findall("print"):
            element.attrib.pop("new-system", None)
            element.attrib.pop("new-page", None)
            if not element.attrib and len(element) == 0:
                measure.remove(element)
        if index in wanted:
            prints = measure.findall("print")
            if prints:
                prints[0].set("new-system", "yes")
            else:
                measure.insert(0, ET.Element("print", {"new-system": "yes"}))


def renumber_measures(root: ET.Element) -> None:
    """Measure numbers 1, 2, ... (0 for a pickup measure marked implicit), as printed."""
    timing = read_score(root)
    number = 1
    for index, measure in enumerate(measures(root)):
        is_pickup = index == 0 and timing.first_time_signature is not None and timing.measure_lengths[0] < Fraction(
            4 * timing.first_time_signature[0], timing.first_time_signature[1])
        if is_pickup:
            measure.set("number", "0")
            measure.set("implicit", "yes")
            continue
        measure.set("number", str(number))
        measure.attrib.pop("implicit", None)
        number += 1


# ---------------------------------------------------------------------------------------------------
# Printed accidentals
# ---------------------------------------------------------------------------------------------------




def respell_accidentals(root: ET.Element, system_starts: list[int]) -> int:
    """Sets <accidental> so every pitch is readable (see module docstring); returns changes made."""
    starts = set(system_starts) | {0}
    changes = 0
    divisions = 1
    fifths = 0
    tied_from: dict[tuple[str, str, str], int] = {}
    for index, measure in enumerate(measures(root)):
        if index in starts:
            tied_from = {}
        events = []  # (onset, order, note element, staff, step, octave, alter, ties)
        position = last_onset = Fraction(0)
        for order, element in enumerate(measure):
            if element.tag == "attributes":
                divisions = int(float(element.findtext("divisions", str(divisions))))
                key_fifths = element.findtext("key/fifths")
                if key_fifths is not None:
                    fifths = int(key_fifths)
            elif element.tag == "backup":
                position = max(Fraction(0), position - Fraction(int(float(element.findtext("duration", "0"))), divisions))
            elif element.tag == "forward":
                position += Fraction(int(float(element.findtext("duration", "0"))), divisions)
            elif element.tag == "note":
                chord = element.find("chord") is not None
                grace = element.find("grace") is not None
                duration = Fraction(0) if grace else Fraction(int(float(element.findtext("duration", "0"))), divisions)
                onset = last_onset if chord else position
                if not chord:
                    last_onset = position
                    position += duration
                pitch = element.find("pitch")
                if pitch is None:
                    continue
                ties = {t.get("type") for t in element.findall("tie")}
                alter = round(float(pitch.findtext("alter", "0")))
                events.append((onset, order, element, element.findtext("staff", "1").strip(),
                               pitch.findtext("step").strip(), pitch.findtext("octave").strip(), alter, ties))
        # decide in onset order; document order among equal onsets (as the delinearizer sorts)
        printed: dict[tuple[str, str, str], list[tuple[Fraction, int]]] = {}
        # notes of one staff line sounding together with different alterations (voices): the
        # reader cannot tell which accidental is whose, so each gets its own
        together: dict[tuple, set[int]] = {}
        for onset, _, _, staff, step, octave, alter, _ in events:
            together.setdefault((staff, step, octave, onset), set()).add(alter)
        for onset, _, note, staff, step, octave, alter, ties in sorted(events, key=lambda e: (e[0], e[1])):
            where = (staff, step, octave)
            force = len(together[(staff, step, octave, onset)]) > 1
            changes += _decide_accidental(note, where, onset, alter, ties, printed, tied_from, fifths, force)
            if "stop" in ties:
                tied_from.pop(where, None)
            if "start" in ties:
                tied_from[where] = alter
    return changes


def _decide_accidental(note, where, onset, alter, ties, printed, tied_from, fifths, force=False) -> int:
    existing = note.find("accidental")
    text = existing.text.strip() if existing is not None and existing.text else ""
    if ALTER_FOR_ACCIDENTAL.get(text) == alter:  # printed and right (maybe a courtesy): keep
        printed.setdefault(where, []).append((onset, alter))
        return 0
    if "stop" in ties and where in tied_from:
        expected = tied_from[where]
    else:
        carried = [a for when, a in printed.get(where, []) if when <= onset]
        expected = carried[-1] if carried else key_signature_alter(fifths, where[1])
    if alter == expected and not force:
        if existing is None:
            return 0
        note.remove(existing)  # an accidental that contradicts the pitch
        return 1
    if alter not in ACCIDENTAL_FOR_ALTER:
        return 0  # microtones: nothing printable
    _set_accidental(note, ACCIDENTAL_FOR_ALTER[alter])
    printed.setdefault(where, []).append((onset, alter))
    return 1


_NOTE_CHILD_ORDER = ("grace", "cue", "chord", "pitch", "unpitched", "rest", "duration", "tie",
                     "instrument", "voice", "type", "dot", "accidental", "time-modification", "stem",
                     "notehead", "notehead-text", "staff", "beam", "notations", "lyric", "play", "listen")


def _set_accidental(note: ET.Element, value: str) -> None:
    existing = note.find("accidental")
    if existing is not None:
        existing.text = value
        return
    accidental = ET.Element("accidental")
    accidental.text = value
    rank = _NOTE_CHILD_ORDER.index("accidental")
    position = len(note)
    for i, child in enumerate(note):
        if child.tag in _NOTE_CHILD_ORDER and _NOTE_CHILD_ORDER.index(child.tag) > rank:
            position = i
            break
    note.insert(position, accidental)


# ---------------------------------------------------------------------------------------------------
# Note comparison (LMX conformance on a system)
# ---------------------------------------------------------------------------------------------------


def measure_notes(root: ET.Element, first: int = 0, stop: int | None = None) -> Counter:
    """Multiset of (measure - first, onset in measure, MIDI pitch, duration, grace) per note."""
    timing = read_score(root)
    stop = len(timing.measure_starts) if stop is None else stop
    found: Counter = Counter()
    for note in timing.notes:
        if first <= note.measure < stop:
            onset = note.onset - timing.measure_starts[note.measure]
            found[(note.measure - first, onset, note.pitch, note.duration, note.grace)] += 1
    return found


def time_signature_before(root: ET.Element, measure_index: int) -> tuple[int, int] | None:
    """The time signature in force at the start of measure `measure_index` (before its own
    attributes), or None if none was set yet."""
    current = None
    for measure in measures(root)[:measure_index]:
        for time in measure.iterfind("attributes/time"):
            beats, beat_type = time.findtext("beats"), time.findtext("beat-type")
            try:
                current = (int(beats.split("+")[0]), int(beat_type))
            except (AttributeError, ValueError):
                pass
    return current
