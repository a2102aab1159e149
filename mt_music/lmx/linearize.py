"""MusicXML -> LMX tokens (OLiMPiC linearized MusicXML, docs/design.md §3.1).

LMX keeps only what is visible on the page: note types instead of durations,
printed accidentals instead of <alter>, and it re-states clef and key at the
start of each system so that one system can be read on its own. The
linearizer walks one score-partwise part measure by measure and emits, per
note, prefix tokens, a root token (the note type) and suffix tokens in the
fixed order of docs/design.md §3.1. Voice, stem and staff are emitted only when they
change; backup resets them.

Unsupported input raises `LmxError`; values outside the vocabulary (e.g. a
5/1 time signature) raise too, unless the caller passes a `problems` list, in
which case such tokens are dropped and each drop is described there.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Union

from mt_music.lmx.errors import LmxError
from mt_music.lmx.vocabulary import (
    ARPEGGIATE_TOKEN,
    ARTICULATION_TOKENS,
    BACKUP_TOKEN,
    CHORD_TOKEN,
    DOT_TOKEN,
    FERMATA_TOKEN,
    FLAVORS,
    FORWARD_TOKEN,
    GRACE_SLASH_TOKEN,
    GRACE_TOKEN,
    LMX_TOKEN_SET,
    MEASURE_REST_TOKEN,
    MEASURE_TOKEN,
    NOTE_TYPE_QUARTERS,
    NOTE_TYPE_TOKENS,
    PITCH_TOKENS,
    PRINT_OBJECT_NO_TOKEN,
    REST_TOKEN,
    TIME_TOKEN,
    TRILL_MARK_TOKEN,
    decompose_duration,
)

MusicXmlSource = Union[str, bytes, "os.PathLike[str]", ET.ElementTree, ET.Element]

MAX_STAVES = 3
_PITCH_RANK = {token: rank for rank, token in enumerate(PITCH_TOKENS)}
_DEFAULT_CLEF_LINE = {"G": "2", "F": "4", "C": "3"}
_NOTE_CONTENT = ("note", "backup", "forward")


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------

def linearize(
    source: MusicXmlSource,
    *,
    system: int | None = None,
    flavor: str = "core",
    problems: list[str] | None = None,
) -> list[str]:
    """LMX tokens of a one-part MusicXML score: the whole part, or one system.

    `source`: path to .musicxml/.xml/.mxl, XML text, bytes, or a parsed tree.
    `system`: 0-based system index (systems start at measures whose <print>
    has new-system or new-page); None linearizes the whole part, ignoring
    breaks. `flavor`: "core" or "extended" (adds slurs, articulations, ...).
    `problems`: pass a list to drop out-of-vocabulary values instead of
    raising; each drop is appended as a message.
    """
    measures = _part_measures(read_musicxml(source))
    linearizer = _PartLinearizer(flavor, problems)
    if system is None:
        return [t for m in measures for t in linearizer.measure(m, restate_header=False)]
    starts = system_starts(measures)
    if not 0 <= system < len(starts):
        raise LmxError(f"system {system} does not exist (the part has {len(starts)} systems)")
    stop = starts[system + 1] if system + 1 < len(starts) else len(measures)
    linearizer.track_only(measures[: starts[system]])
    return [
        token
        for index in range(starts[system], stop)
        for token in linearizer.measure(measures[index], restate_header=index == starts[system])
    ]


def linearize_systems(
    source: MusicXmlSource, *, flavor: str = "core", problems: list[str] | None = None
) -> list[list[str]]:
    """LMX tokens of every system of the part, in one pass (for dataset builders)."""
    measures = _part_measures(read_musicxml(source))
    linearizer = _PartLinearizer(flavor, problems)
    starts = set(system_starts(measures))
    systems: list[list[str]] = []
    for index, measure in enumerate(measures):
        if index in starts:
            systems.append([])
        systems[-1].extend(linearizer.measure(measure, restate_header=index in starts))
    return systems


def count_systems(source: MusicXmlSource) -> int:
    """Number of systems of the part (1 when it has no system or page breaks)."""
    return len(system_starts(_part_measures(read_musicxml(source))))


def system_starts(measures: list[ET.Element]) -> list[int]:
    """Indices of the measures that start a system; the first measure always does."""
    starts = [0] if measures else []
    for index, measure in enumerate(measures[1:], start=1):
        if any(
            p.get("new-system") == "yes" or p.get("new-page") == "yes"
            for p in measure.findall("print")
        ):
            starts.append(index)
    return starts


# --------------------------------------------------------------------------
# reading MusicXML
# --------------------------------------------------------------------------

def read_musicxml(source: MusicXmlSource) -> ET.Element:
    """Root element of a MusicXML document given as path, text, bytes or tree."""
    if isinstance(source, ET.ElementTree):
        return source.getroot()
    if isinstance(source, ET.Element):
        return source
    if isinstance(source, bytes):
        return _parse_xml(source, "the given bytes")
    if isinstance(source, str) and source.lstrip().startswith("<"):
        return _parse_xml(source, "the given text")
    if not isinstance(source, (str, os.PathLike)):
        raise LmxError(f"cannot read MusicXML from a {type(source).__name__}")
    path = os.fspath(source)
    try:
        if zipfile.is_zipfile(path):
            return _parse_xml(_read_mxl_root_file(path), path)
        with open(path, "rb") as file:
            return _parse_xml(file.read(), path)
    except FileNotFoundError:
        raise LmxError(f"cannot read {path}: no such file") from None
    except (OSError, zipfile.BadZipFile, KeyError) as error:
        raise LmxError(f"cannot read {path}: {error}") from None


def _read_mxl_root_file(path: str) -> bytes:
    """The score inside a compressed .mxl (located via META-INF/container.xml)."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        if "META-INF/container.xml" in names:
            container = _parse_xml(archive.read("META-INF/container.xml"), path)
            for rootfile in container.iter("rootfile"):
                media_type = rootfile.get("media-type", "application/vnd.recordare.musicxml+xml")
                if media_type.endswith("musicxml+xml") and rootfile.get("full-path") in names:
                    return archive.read(rootfile.get("full-path"))
        candidates = [
            n for n in names
            if not n.startswith("META-INF/") and n.lower().endswith((".xml", ".musicxml"))
        ]
        if not candidates:
            raise LmxError(f"cannot read {path}: the .mxl archive holds no MusicXML file")
        return archive.read(candidates[0])


def _parse_xml(data: str | bytes, origin: str) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError as error:
        raise LmxError(f"{origin} is not well-formed XML ({error})") from None


def _part_measures(root: ET.Element) -> list[ET.Element]:
    """The measures of the single part, after checking that LMX can represent it."""
    if root.tag == "part":
        part = root
    elif root.tag == "score-timewise":
        raise LmxError("score-timewise MusicXML is not supported; convert it to score-partwise")
    elif root.tag != "score-partwise":
        raise LmxError(f"not a score-partwise MusicXML document (root element <{root.tag}>)")
    else:
        parts = root.findall("part")
        if len(parts) != 1:
            raise LmxError(f"LMX needs a score with exactly one part; this one has {len(parts)}")
        part = parts[0]
    staves = [_int_or_none(e.text) for e in part.iter("staves")]
    most = max((s for s in staves if s is not None), default=1)
    if most > MAX_STAVES:
        raise LmxError(f"the part has {most} staves; LMX supports at most {MAX_STAVES}")
    return part.findall("measure")


def _int_or_none(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


# --------------------------------------------------------------------------
# the linearizer
# --------------------------------------------------------------------------

class _TokenOutput:
    """Collects tokens; rejects values outside the vocabulary (raise or record)."""

    def __init__(self, problems: list[str] | None):
        self.tokens: list[str] = []
        self.problems = problems
        self.muted = False
        self.measure_number = "?"

    def emit(self, *tokens: str, what: str | None = None) -> bool:
        """Appends all tokens, or none of them when one is not an LMX token."""
        unknown = [t for t in tokens if t not in LMX_TOKEN_SET]
        if unknown:
            self.unsupported(f"{what or repr(unknown[0])} is not representable in LMX")
            return False
        self.tokens.extend(tokens)
        return True

    def unsupported(self, message: str) -> None:
        if self.muted:
            return
        text = f"measure {self.measure_number}: {message}"
        if self.problems is None:
            raise LmxError(text)
        self.problems.append(text)


@dataclass
class _PartState:
    """What persists from measure to measure."""

    divisions: Fraction | None = None
    fifths: int | None = None
    staves: int = 1
    clefs: dict[int, str] = field(default_factory=dict)


class _PartLinearizer:
    """Turns the measures of one part into tokens, keeping part-level state."""

    def __init__(self, flavor: str, problems: list[str] | None):
        if flavor not in FLAVORS:
            raise LmxError(f"unknown LMX flavor {flavor!r}; expected one of {', '.join(FLAVORS)}")
        self._extended = flavor == "extended"
        self._out = _TokenOutput(problems)
        self._part = _PartState()
        self._voice: str | None = None
        self._stem: str | None = None
        self._staff: str | None = None

    def track_only(self, measures: list[ET.Element]) -> None:
        """Reads measures for their state (key, clefs, divisions) without output."""
        self._out.muted = True
        for measure in measures:
            self.measure(measure, restate_header=False)
        self._out.muted = False

    def measure(self, measure: ET.Element, *, restate_header: bool) -> list[str]:
        """Tokens of one measure; with `restate_header`, key and clefs are re-stated."""
        self._out.tokens = []
        self._out.measure_number = measure.get("number", "?")
        self._voice = self._stem = self._staff = None
        self._out.emit(MEASURE_TOKEN)
        head = _head_attributes(measure) if restate_header else None
        if restate_header and head is None:
            self._attributes(ET.Element("attributes"), restate=True)
        for event in _measure_events(measure):
            if isinstance(event, list):
                self._note_group(event)
            elif event.tag == "attributes":
                self._attributes(event, restate=event is head)
            else:
                self._move(event)
        return self._out.tokens

    # ---- attributes -------------------------------------------------------

    def _attributes(self, attributes: ET.Element, *, restate: bool) -> None:
        divisions = attributes.findtext("divisions")
        if divisions is not None:
            self._part.divisions = _positive_fraction(divisions)
        key = attributes.find("key")
        if key is not None:
            self._key(key)
        elif restate and self._part.fifths is not None:
            self._out.emit(f"key:fifths:{self._part.fifths}")
        time = attributes.find("time")
        if time is not None:
            self._time(time)
        staves = _int_or_none(attributes.findtext("staves"))
        if staves is not None and staves > 0:
            self._part.staves = staves
            self._part.clefs = {s: c for s, c in self._part.clefs.items() if s <= staves}
        clefs = self._read_clefs(attributes)
        if restate:
            clefs = dict(self._part.clefs)
        for staff in sorted(clefs):
            tokens = [clefs[staff]] + ([f"staff:{staff}"] if self._part.staves >= 2 else [])
            self._out.emit(*tokens)

    def _key(self, key: ET.Element) -> None:
        fifths = _int_or_none(key.findtext("fifths"))
        if fifths is None:
            self._out.unsupported("key signature without <fifths> (non-traditional key)")
        elif self._out.emit(f"key:fifths:{fifths}", what=f"key signature with {fifths} fifths"):
            self._part.fifths = fifths

    def _time(self, time: ET.Element) -> None:
        beats, beat_type = time.findtext("beats"), time.findtext("beat-type")
        if beats is None or beat_type is None:
            self._out.unsupported("time signature without beats and beat-type")
            return
        beats, beat_type = beats.strip(), beat_type.strip()
        self._out.emit(
            TIME_TOKEN, f"beats:{beats}", f"beat-type:{beat_type}",
            what=f"time signature {beats}/{beat_type}",
        )

    def _read_clefs(self, attributes: ET.Element) -> dict[int, str]:
        """Clef tokens by staff number; remembers them for re-stating."""
        clefs: dict[int, str] = {}
        for clef in attributes.findall("clef"):
            staff = _int_or_none(clef.get("number", "1")) or 1
            sign = (clef.findtext("sign") or "").strip().upper()
            line = (clef.findtext("line") or _DEFAULT_CLEF_LINE.get(sign, "")).strip()
            token = f"clef:{sign}{line}"
            if token not in LMX_TOKEN_SET:
                self._out.unsupported(f"clef {sign}{line} is not representable in LMX")
                continue
            clefs[staff] = token
            self._part.clefs[staff] = token
        return clefs

    # ---- backup / forward -------------------------------------------------

    def _move(self, element: ET.Element) -> None:
        kind = BACKUP_TOKEN if element.tag == "backup" else FORWARD_TOKEN
        duration = self._quarters(element.findtext("duration"), f"<{element.tag}>")
        if duration is not None:
            note_types, remainder = decompose_duration(duration)
            if remainder:
                self._out.unsupported(
                    f"<{element.tag}> of {duration} quarters is not a sum of note types"
                )
            for note_type in note_types:
                self._out.emit(kind, note_type)
        if element.tag == "backup":
            self._voice = self._stem = self._staff = None

    def _quarters(self, duration: str | None, what: str) -> Fraction | None:
        value = _positive_fraction(duration)
        if value is None or self._part.divisions is None:
            self._out.unsupported(f"{what} without a usable duration or <divisions>")
            return None
        return value / self._part.divisions

    # ---- notes ------------------------------------------------------------

    def _note_group(self, notes: list[ET.Element]) -> None:
        """A note with its chord notes: ascending pitch, beams/tuplets on the first."""
        first_is_chord = notes[0].find("chord") is not None
        ordered = notes
        if len(notes) > 1 and all(_pitch_token(n) in _PITCH_RANK for n in notes):
            ordered = sorted(notes, key=lambda n: _PITCH_RANK[_pitch_token(n)])
        beams = next((b for b in map(_beam_tokens, notes) if b), [])
        tuplets = next((t for t in map(_tuplet_tokens, notes) if t), [])
        for index, note in enumerate(ordered):
            self._note(
                note,
                is_chord=first_is_chord if index == 0 else True,
                beams=beams if index == 0 else [],
                tuplets=tuplets if index == 0 else [],
            )

    def _note(self, note: ET.Element, *, is_chord: bool, beams: list[str], tuplets: list[str]) -> None:
        emit = self._out.emit
        if note.get("print-object") == "no":
            emit(PRINT_OBJECT_NO_TOKEN)
        grace = note.find("grace")
        if grace is not None:
            emit(GRACE_TOKEN)
            if grace.get("slash") == "yes":
                emit(GRACE_SLASH_TOKEN)
        if is_chord:
            emit(CHORD_TOKEN)
        rest = note.find("rest")
        if rest is not None:
            emit(REST_TOKEN)
        elif note.find("pitch") is not None:
            pitch = _pitch_token(note)
            emit(pitch, what=f"pitch {pitch}")
        else:
            self._out.unsupported("unpitched (percussion) notes are not representable in LMX")
        self._emit_voice(note)
        dots = self._emit_root(note, is_measure_rest=rest is not None and rest.get("measure") == "yes")
        self._emit_time_modification(note)
        for _ in range(dots):
            emit(DOT_TOKEN)
        accidental = (note.findtext("accidental") or "").strip()
        if accidental:
            emit(accidental, what=f"accidental {accidental!r}")
        self._emit_stem(note)
        self._emit_staff(note)
        for token in beams:
            emit(token)
        self._emit_ties(note)
        for token in tuplets:
            emit(token)
        if self._extended:
            self._emit_extended(note)

    def _emit_voice(self, note: ET.Element) -> None:
        voice = note.findtext("voice")
        if voice is not None and voice.strip() != self._voice:
            voice = voice.strip()
            if self._out.emit(f"voice:{voice}", what=f"voice {voice}"):
                self._voice = voice

    def _emit_root(self, note: ET.Element, *, is_measure_rest: bool) -> int:
        """Emits the note type (or rest:measure); returns the number of dots."""
        dots = len(note.findall("dot"))
        note_type = (note.findtext("type") or "").strip()
        if note_type:
            self._out.emit(note_type, what=f"note type {note_type!r}")
        elif is_measure_rest:
            self._out.emit(MEASURE_REST_TOKEN)
        elif note.find("grace") is None:
            inferred = self._infer_type(note)
            if inferred is not None:
                note_type, dots = inferred
                self._out.emit(note_type)
        else:
            self._out.unsupported("grace note without <type>")
        return dots

    def _infer_type(self, note: ET.Element) -> tuple[str, int] | None:
        """Note type and dots of a note that lacks <type>, from its duration."""
        duration = self._quarters(note.findtext("duration"), "note without <type>")
        if duration is None:
            return None
        duration *= _time_modification_factor(note) ** -1
        for note_type in NOTE_TYPE_TOKENS:
            for dots in range(4):
                if NOTE_TYPE_QUARTERS[note_type] * (2 - Fraction(1, 2**dots)) == duration:
                    return note_type, dots
        self._out.unsupported(f"note without <type> lasting {duration} quarters")
        return None

    def _emit_time_modification(self, note: ET.Element) -> None:
        modification = note.find("time-modification")
        if modification is None:
            return
        actual = (modification.findtext("actual-notes") or "").strip()
        normal = (modification.findtext("normal-notes") or "").strip()
        self._out.emit(f"{actual}in{normal}", what=f"tuplet ratio {actual}:{normal}")

    def _emit_stem(self, note: ET.Element) -> None:
        stem = (note.findtext("stem") or "").strip()
        if stem in ("up", "down", "none") and stem != self._stem:
            self._out.emit(f"stem:{stem}")
            self._stem = stem

    def _emit_staff(self, note: ET.Element) -> None:
        staff = note.findtext("staff")
        if staff is None or self._part.staves < 2:
            return
        staff = staff.strip()
        if staff != self._staff and self._out.emit(f"staff:{staff}", what=f"staff {staff}"):
            self._staff = staff

    def _emit_ties(self, note: ET.Element) -> None:
        for tied in note.findall("notations/tied"):
            kind = tied.get("type", "")
            self._out.emit(f"tied:{kind}", what=f"tie of type {kind!r}")

    def _emit_extended(self, note: ET.Element) -> None:
        """Slurs, fermata, arpeggio, articulations, tremolo, trill (extended flavour)."""
        notations = note.findall("notations")
        if not notations:
            return
        emit = self._out.emit
        for slur in (s for n in notations for s in n.findall("slur")):
            if slur.get("type") in ("start", "stop"):
                emit(f"slur:{slur.get('type')}")

        def has(path: str) -> bool:
            return any(n.find(path) is not None for n in notations)

        if has("fermata"):
            emit(FERMATA_TOKEN)
        if has("arpeggiate"):
            emit(ARPEGGIATE_TOKEN)
        for articulation in ARTICULATION_TOKENS:
            if has(f"articulations/{articulation}"):
                emit(articulation)
        tremolo = next((t for n in notations for t in n.findall("ornaments/tremolo")), None)
        if tremolo is not None:
            emit(f"tremolo:{tremolo.get('type', 'single')}", what="tremolo type")
            marks = (tremolo.text or "").strip()
            if marks:
                emit(f"tremolo:{marks}", what=f"tremolo with {marks} marks")
        if has("ornaments/trill-mark"):
            emit(TRILL_MARK_TOKEN)


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

def _measure_events(measure: ET.Element) -> list[ET.Element | list[ET.Element]]:
    """Attributes, backups, forwards and note groups (a note plus its chord notes)."""
    events: list[ET.Element | list[ET.Element]] = []
    for child in measure:
        if child.tag == "note":
            if child.find("chord") is not None and events and isinstance(events[-1], list):
                events[-1].append(child)
            else:
                events.append([child])
        elif child.tag in ("attributes", "backup", "forward"):
            events.append(child)
    return events


def _head_attributes(measure: ET.Element) -> ET.Element | None:
    """The <attributes> before the first note: where a system header belongs."""
    for child in measure:
        if child.tag == "attributes":
            return child
        if child.tag in _NOTE_CONTENT:
            return None
    return None


def _pitch_token(note: ET.Element) -> str:
    pitch = note.find("pitch")
    if pitch is None:
        return ""
    return (pitch.findtext("step") or "").strip() + (pitch.findtext("octave") or "").strip()


def _beam_tokens(note: ET.Element) -> list[str]:
    """beam:* tokens of a note, one per beam level; `continue` is implied."""
    tokens = []
    for beam in note.findall("beam"):
        value = (beam.text or "").strip().replace(" ", "-")
        if value != "continue":
            tokens.append(f"beam:{value}")
    return tokens


def _tuplet_tokens(note: ET.Element) -> list[str]:
    return [f"tuplet:{t.get('type', '')}" for t in note.findall("notations/tuplet")]


def _time_modification_factor(note: ET.Element) -> Fraction:
    actual = _int_or_none(note.findtext("time-modification/actual-notes"))
    normal = _int_or_none(note.findtext("time-modification/normal-notes"))
    if not actual or not normal:
        return Fraction(1)
    return Fraction(normal, actual)


def _positive_fraction(text: str | None) -> Fraction | None:
    try:
        value = Fraction((text or "").strip())
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None
