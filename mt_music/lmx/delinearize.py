"""LMX tokens -> MusicXML, tolerant of the mistakes a model makes.

LMX drops what a reader can infer, so delinearization infers it back: note
durations from type, dots and tuplet ratio (exact fractions, then one common
<divisions>), <alter> from key signature, earlier accidentals in the measure
and ties, <staves> from the staff numbers used, and voice/stem/staff from the
"only on change" tokens. Token sequences come from a model, so nothing here
raises: tokens that cannot be placed are dropped or repaired and every such
decision is reported in `DelinearizeResult.problems`.

Parsing follows the LMX grammar: a sequence is split at `measure`; inside a
measure every item is one root token (note type, `rest:measure`, key, `time`,
clef) with the prefix tokens before it and the suffix tokens after it.
"""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple

from mt_music.lmx.vocabulary import (
    ACCIDENTAL_ALTER,
    ACCIDENTAL_TOKENS,
    ARPEGGIATE_TOKEN,
    ARTICULATION_TOKENS,
    ATTRIBUTE_ROOT_TOKENS,
    BACKUP_TOKEN,
    BEAM_TOKENS,
    BEAT_TYPE_TOKENS,
    BEATS_TOKENS,
    CHORD_TOKEN,
    CLEF_TOKENS,
    DOT_TOKEN,
    FERMATA_TOKEN,
    FORWARD_TOKEN,
    GRACE_SLASH_TOKEN,
    GRACE_TOKEN,
    KEY_TOKENS,
    LMX_TOKEN_SET,
    MEASURE_REST_TOKEN,
    MEASURE_TOKEN,
    NOTE_PREFIX_TOKENS,
    NOTE_ROOT_TOKENS,
    NOTE_SUFFIX_TOKENS,
    NOTE_TYPE_QUARTERS,
    PITCH_TOKENS,
    PRINT_OBJECT_NO_TOKEN,
    REST_TOKEN,
    SLUR_TOKENS,
    STAFF_TOKENS,
    STEM_TOKENS,
    TIED_TOKENS,
    TIME_MODIFICATION_TOKENS,
    TIME_TOKEN,
    TREMOLO_MARKS_TOKENS,
    TREMOLO_TYPE_TOKENS,
    TRILL_MARK_TOKEN,
    TUPLET_TOKENS,
    VOICE_TOKENS,
    decompose_duration,
    key_signature_alter,
)

_XML_HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" '
    '"http://www.musicxml.org/dtds/partwise.dtd">\n'
)
_DEFAULT_MEASURE_QUARTERS = Fraction(4)
_STEMLESS_TYPES = frozenset(("whole", "breve", "long", "maxima"))

# Each prefix/suffix token fills one "slot" of its root; the slot's rank is its
# place in the canonical LMX order (used to report badly ordered sequences).
_PREFIX_SLOTS: dict[str, tuple[int, str]] = {
    PRINT_OBJECT_NO_TOKEN: (0, "print"), GRACE_TOKEN: (1, "grace"),
    GRACE_SLASH_TOKEN: (2, "slash"), CHORD_TOKEN: (3, "chord"), REST_TOKEN: (4, "content"),
    FORWARD_TOKEN: (4, "move"), BACKUP_TOKEN: (4, "move"),
    **{t: (4, "content") for t in PITCH_TOKENS}, **{t: (5, "voice") for t in VOICE_TOKENS},
}
_SUFFIX_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("time-modification", TIME_MODIFICATION_TOKENS), ("dot", (DOT_TOKEN,)),
    ("accidental", ACCIDENTAL_TOKENS), ("stem", STEM_TOKENS), ("staff", STAFF_TOKENS),
    ("beam", BEAM_TOKENS), ("tied", TIED_TOKENS), ("tuplet", TUPLET_TOKENS),
    ("slur", SLUR_TOKENS), ("fermata", (FERMATA_TOKEN,)), ("arpeggiate", (ARPEGGIATE_TOKEN,)),
    *((a, (a,)) for a in ARTICULATION_TOKENS), ("tremolo-type", TREMOLO_TYPE_TOKENS),
    ("tremolo-marks", TREMOLO_MARKS_TOKENS), ("trill", (TRILL_MARK_TOKEN,)),
    ("beats", BEATS_TOKENS), ("beat-type", BEAT_TYPE_TOKENS),
)
_SUFFIX_SLOTS: dict[str, tuple[int, str]] = {
    token: (rank, slot)
    for rank, (slot, tokens) in enumerate(_SUFFIX_GROUPS)
    for token in tokens
}
_REPEATABLE_SUFFIXES = frozenset(("dot", "beam", "tied", "tuplet", "slur"))
_PREFIXES = frozenset(NOTE_PREFIX_TOKENS)
_ROOTS = frozenset(NOTE_ROOT_TOKENS) | frozenset(ATTRIBUTE_ROOT_TOKENS)
_SUFFIXES = frozenset(NOTE_SUFFIX_TOKENS) | frozenset(BEATS_TOKENS) | frozenset(BEAT_TYPE_TOKENS)


class DelinearizeResult(NamedTuple):
    """MusicXML text (score-partwise, one part) and what had to be repaired."""

    musicxml: str
    problems: list[str]

    def element_tree(self) -> ET.ElementTree:
        """The MusicXML as a parsed tree, for callers that edit it further."""
        return ET.ElementTree(ET.fromstring(self.musicxml))


def delinearize(
    tokens: Sequence[str] | str, *, time_signature: tuple[int, int] | None = None
) -> DelinearizeResult:
    """MusicXML for an LMX sequence (a list of tokens or whitespace-separated text).

    Never raises on bad input: unknown tokens, tokens without a note, notes
    without pitch, impossible backups and the like are dropped or repaired,
    and each is described in `problems`.

    `time_signature` (beats, beat type) is the one in force before the
    sequence, when the caller knows it (e.g. from the previous system: LMX
    re-states clef and key at a system start, not time). It only sets the
    length of measure rests until a `time` token appears; without it they
    last as long as the longest measure of the sequence (4 quarters if none).
    """
    problems = _Problems()
    try:
        part_state = _PartState(measure_quarters=_hinted_measure_length(time_signature, problems))
        measures = [
            _MeasureInterpreter.run(_parse_items(words, problems), problems, part_state)
            for words in _split_measures(_lex(tokens, problems), problems)
        ]
        if not measures:
            problems.add(None, "no measures in the sequence; writing one empty measure")
            measures = [[]]
        _resolve_measure_rests(measures)
        _infer_onsets_and_alters(measures, problems)
        return DelinearizeResult(_to_musicxml(measures), problems.messages)
    except Exception as error:  # noqa: BLE001 - safety net: model output must never crash decoding
        problems.add(None, f"internal error ({type(error).__name__}: {error}); output is empty")
        return DelinearizeResult(_to_musicxml([[]]), problems.messages)


def _hinted_measure_length(
    time_signature: tuple[int, int] | None, problems: _Problems
) -> Fraction | None:
    if time_signature is None:
        return None
    try:
        beats, beat_type = (int(v) for v in time_signature)
        if beats > 0 and beat_type > 0:
            return Fraction(4 * beats, beat_type)
    except (TypeError, ValueError):
        pass
    problems.add(None, f"time_signature {time_signature!r} is not (beats, beat type); ignored")
    return None


# --------------------------------------------------------------------------
# lexing and parsing
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class _Word:
    position: int  # 1-based index in the input sequence
    token: str


@dataclass
class _Item:
    """One root token with the prefix and suffix tokens that belong to it."""

    root: _Word
    prefixes: list[_Word]
    suffixes: list[_Word] = field(default_factory=list)


class _Problems:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, word: _Word | None, message: str) -> None:
        where = f"token {word.position} '{word.token}': " if word is not None else ""
        self.messages.append(where + message)


def _lex(tokens: Sequence[str] | str, problems: _Problems) -> list[_Word]:
    if isinstance(tokens, str):
        tokens = tokens.split()
    words = []
    for position, token in enumerate(tokens, start=1):
        if isinstance(token, str) and token in LMX_TOKEN_SET:
            words.append(_Word(position, token))
        else:
            problems.add(_Word(position, str(token)), "not in the LMX vocabulary; dropped")
    return words


def _split_measures(words: list[_Word], problems: _Problems) -> list[list[_Word]]:
    """Token lists of the measures; tokens before the first `measure` start one."""
    measures: list[list[_Word]] = []
    for word in words:
        if word.token == MEASURE_TOKEN:
            measures.append([])
        elif not measures:
            problems.add(word, "comes before the first 'measure'; starting a measure here")
            measures.append([word])
        else:
            measures[-1].append(word)
    return measures


def _parse_items(words: list[_Word], problems: _Problems) -> list[_Item]:
    """Groups a measure's tokens into root items (prefixes before, suffixes after)."""
    items: list[_Item] = []
    pending: list[_Word] = []
    for word in words:
        if word.token in _PREFIXES:
            pending.append(word)
        elif word.token in _ROOTS:
            items.append(_Item(word, pending))
            pending = []
        elif not items:
            problems.add(word, "suffix token before any note or attribute; dropped")
        else:
            if pending:
                problems.add(word, "suffix token after the prefixes of the next note; "
                                   "attached to the previous one")
            items[-1].suffixes.append(word)
    for word in pending:
        problems.add(word, "prefix token not followed by a note type; dropped")
    return items


class _Slots:
    """An item's prefixes and suffixes sorted into slots, duplicates reported."""

    def __init__(self, item: _Item, problems: _Problems):
        self.item = item
        self._problems = problems
        self._words: dict[str, list[_Word]] = {}
        self._check_order(item.prefixes, _PREFIX_SLOTS)
        self._check_order(item.suffixes, _SUFFIX_SLOTS)
        for word in item.prefixes:
            self._words.setdefault(_PREFIX_SLOTS[word.token][1], []).append(word)
        for word in item.suffixes:
            self._words.setdefault(_SUFFIX_SLOTS[word.token][1], []).append(word)
        self._used: set[str] = set()

    def _check_order(self, words: list[_Word], slots: dict[str, tuple[int, str]]) -> None:
        ranks = [slots[w.token][0] for w in words]
        if any(a > b for a, b in itertools.pairwise(ranks)):
            self._problems.add(self.item.root, "its prefix or suffix tokens are out of the "
                                               "canonical LMX order; used anyway")

    def one(self, slot: str, *, keep_last: bool = False) -> str | None:
        """The token of a single-valued slot; extra tokens are reported."""
        self._used.add(slot)
        words = self._words.get(slot, [])
        if not words:
            return None
        kept = words[-1] if keep_last else words[0]
        for word in words:
            if word is not kept:
                self._problems.add(word, f"second '{slot}' token for '{self.item.root.token}' "
                                         f"(token {self.item.root.position}); ignored")
        return kept.token

    def many(self, slot: str) -> list[str]:
        self._used.add(slot)
        return [w.token for w in self._words.get(slot, [])]

    def has(self, slot: str) -> bool:
        return slot in self._words

    def report_unused(self) -> None:
        for slot, words in self._words.items():
            if slot not in self._used:
                for word in words:
                    self._problems.add(word, f"does not apply to '{self.item.root.token}' "
                                             f"(token {self.item.root.position}); ignored")


# --------------------------------------------------------------------------
# interpretation: items -> measure events
# --------------------------------------------------------------------------

@dataclass
class _Attributes:
    fifths: int | None = None
    time: tuple[int, int] | None = None
    clefs: dict[int | None, tuple[str, str]] = field(default_factory=dict)  # staff -> (sign, line)
    last_rank: tuple[int, int] = (-1, -1)  # order position of the latest item (key < time < clefs)


@dataclass
class _Move:
    kind: str  # "backup" or "forward"
    duration: Fraction
    note_types: list[str] = field(default_factory=list)  # the tokens it was written as


@dataclass
class _Note:
    step: str | None = None  # None for rests
    octave: str = ""
    alter: int = 0
    print_object: bool = True
    grace: bool = False
    grace_slash: bool = False
    chord: bool = False
    measure_rest: bool = False
    note_type: str | None = None
    dots: int = 0
    time_modification: tuple[str, str] | None = None
    duration: Fraction | None = None  # None: grace note, or measure rest not yet resolved
    bar_quarters: Fraction | None = None  # measure length from the time signature in force
    voice: str | None = None
    accidental: str | None = None
    stem: str | None = None
    staff: str | None = None
    beams: list[tuple[int, str]] = field(default_factory=list)
    ties: list[str] = field(default_factory=list)
    tuplets: list[str] = field(default_factory=list)
    slurs: list[tuple[str, int]] = field(default_factory=list)
    fermata: bool = False
    arpeggiate: bool = False
    articulations: list[str] = field(default_factory=list)
    tremolo: tuple[str, str] | None = None
    trill: bool = False
    word: _Word | None = None  # the root token, for problem messages

    @property
    def is_rest(self) -> bool:
        return self.step is None


_Event = _Attributes | _Move | _Note


@dataclass
class _PartState:
    """Interpretation state that carries over measure boundaries."""

    measure_quarters: Fraction | None = None
    open_slurs: list[int] = field(default_factory=list)


class _MeasureInterpreter:
    """Turns one measure's items into events, tracking voice/stem/staff/beams."""

    def __init__(self, problems: _Problems, part: _PartState):
        self._problems = problems
        self._part = part
        self.events: list[_Event] = []
        self._voice: str | None = None
        self._stem: str | None = None
        self._staff: str | None = None
        self._open_beams = {False: 0, True: 0}  # by "is grace note"

    @classmethod
    def run(cls, items: list[_Item], problems: _Problems, part: _PartState) -> list[_Event]:
        interpreter = cls(problems, part)
        for item in items:
            interpreter._item(item)
        return interpreter.events

    def _item(self, item: _Item) -> None:
        slots = _Slots(item, self._problems)
        root = item.root.token
        if root in KEY_TOKENS or root == TIME_TOKEN or root in CLEF_TOKENS:
            self._attribute(root, slots)
        elif slots.has("move"):
            self._move(slots)
        else:
            self._note(slots)
        slots.report_unused()

    # ---- attributes ---------------------------------------------------------

    def _attribute(self, root: str, slots: _Slots) -> None:
        if root in KEY_TOKENS:
            self._attributes_for((0, 0)).fifths = int(root.rsplit(":", 1)[1])
        elif root == TIME_TOKEN:
            time = self._time(slots)
            self._attributes_for((1, 0)).time = time
            self._part.measure_quarters = Fraction(4 * time[0], time[1])
        else:
            staff_token = slots.one("staff")
            staff = int(staff_token.split(":")[1]) if staff_token else None
            self._attributes_for((2, staff or 0)).clefs[staff] = (root[5], root[6])

    def _time(self, slots: _Slots) -> tuple[int, int]:
        beats, beat_type = slots.one("beats"), slots.one("beat-type")
        if beats is None or beat_type is None:
            self._problems.add(slots.item.root, "time signature lacks beats or beat-type; "
                                                "assuming 4 and 4")
        return (int(beats.split(":")[1]) if beats else 4,
                int(beat_type.split(":")[1]) if beat_type else 4)

    def _attributes_for(self, rank: tuple[int, int]) -> _Attributes:
        """The open <attributes> if `rank` may follow its content, else a new one.

        Key, time and clefs (by staff) have a fixed order inside one element;
        an item out of that order starts a new element, which keeps the
        original order when the result is linearized again.
        """
        current = self.events[-1] if self.events else None
        if not isinstance(current, _Attributes) or rank <= current.last_rank:
            current = _Attributes()
            self.events.append(current)
        current.last_rank = rank
        return current

    # ---- backup / forward ---------------------------------------------------

    def _move(self, slots: _Slots) -> None:
        kind = slots.one("move", keep_last=True)
        root = slots.item.root
        if root.token == MEASURE_REST_TOKEN:
            self._problems.add(root, f"'{kind}' needs a note type, not 'rest:measure'; dropped")
            return
        duration = _duration(root.token, 0, slots.one("time-modification"))
        if kind == BACKUP_TOKEN:
            self._voice = self._stem = self._staff = None
            self._open_beams = {False: 0, True: 0}
        previous = self.events[-1] if self.events else None
        if isinstance(previous, _Move) and previous.kind == kind and _splits_into(
            previous.duration + duration, [*previous.note_types, root.token]
        ):  # "backup half backup quarter" is one backup of 3 quarters
            previous.duration += duration
            previous.note_types.append(root.token)
        else:
            self.events.append(_Move(kind, duration, [root.token]))

    # ---- notes ------------------------------------------------------------

    def _note(self, slots: _Slots) -> None:
        root = slots.item.root
        note = _Note(word=root)
        note.print_object = slots.one("print") is None
        note.grace_slash = slots.one("slash") is not None
        note.grace = slots.one("grace") is not None or note.grace_slash
        note.chord = self._chord_allowed(slots.one("chord") is not None, root)
        self._content(note, slots.one("content", keep_last=True), root)
        self._voice = _value(slots.one("voice", keep_last=True)) or self._voice
        note.voice = self._voice
        self._rhythm(note, slots)
        note.accidental = slots.one("accidental")
        self._stem_and_staff(note, slots)
        self._beams(note, slots.many("beam"))
        note.ties = [_value(t) for t in slots.many("tied")]
        note.tuplets = [_value(t) for t in slots.many("tuplet")]
        self._notations(note, slots)
        self.events.append(note)

    def _chord_allowed(self, chord: bool, root: _Word) -> bool:
        if chord and not (self.events and isinstance(self.events[-1], _Note)):
            self._problems.add(root, "'chord' without a preceding note; treated as a new note")
            return False
        return chord

    def _content(self, note: _Note, content: str | None, root: _Word) -> None:
        if content is None:
            self._problems.add(root, "note without pitch or 'rest'; written as a rest")
        elif content != REST_TOKEN:
            note.step, note.octave = content[0], content[1:]
        if root.token == MEASURE_REST_TOKEN and not note.is_rest:
            self._problems.add(root, "'rest:measure' on a pitched note; written as a rest")
            note.step = None

    def _rhythm(self, note: _Note, slots: _Slots) -> None:
        root = slots.item.root.token
        modification = slots.one("time-modification")
        dots = slots.many("dot")
        note.bar_quarters = self._part.measure_quarters
        if root == MEASURE_REST_TOKEN:
            note.measure_rest = True
            if modification or dots:
                self._problems.add(slots.item.root, "dots or tuplet ratio on 'rest:measure'; ignored")
            return
        note.note_type, note.dots = root, len(dots)
        if modification:
            actual, normal = modification.split("in")
            note.time_modification = (actual, normal)
        if not note.grace:
            note.duration = _duration(root, len(dots), modification)

    def _stem_and_staff(self, note: _Note, slots: _Slots) -> None:
        stem = _value(slots.one("stem"))
        if stem is not None:
            self._stem = stem
            note.stem = stem
        elif self._stem is not None and not note.is_rest and note.note_type not in _STEMLESS_TYPES:
            note.stem = self._stem
        note.staff = self._staff = _value(slots.one("staff")) or self._staff

    def _beams(self, note: _Note, tokens: list[str]) -> None:
        """MusicXML beam levels from begin/end/hook tokens (continue is implied)."""
        if note.chord:
            if tokens:
                self._problems.add(note.word, "beams on a chord note; ignored")
            return
        open_beams = self._open_beams[note.grace]
        ends = tokens.count("beam:end")
        if ends > open_beams:
            self._problems.add(note.word, "'beam:end' without an open beam")
            open_beams = ends
        continuing = open_beams - ends
        if not tokens and note.is_rest:
            continuing = 0  # rests inside a beam group carry no beam elements
        note.beams = [(level, "continue") for level in range(1, continuing + 1)]
        for level, token in enumerate(tokens, start=continuing + 1):
            note.beams.append((level, _value(token).replace("-", " ")))
        self._open_beams[note.grace] = open_beams - ends + tokens.count("beam:begin")

    def _notations(self, note: _Note, slots: _Slots) -> None:
        self._slurs(note, slots.many("slur"))
        note.fermata = slots.one("fermata") is not None
        note.arpeggiate = slots.one("arpeggiate") is not None
        note.articulations = [a for a in ARTICULATION_TOKENS if slots.one(a) is not None]
        note.trill = slots.one("trill") is not None
        tremolo_type, marks = _value(slots.one("tremolo-type")), _value(slots.one("tremolo-marks"))
        if tremolo_type or marks:
            note.tremolo = (tremolo_type or "single", marks or "3")

    def _slurs(self, note: _Note, slurs: list[str]) -> None:
        """Slur numbers: a stop closes the latest open slur, a start takes the lowest free
        number. Stops are matched first, so 'slur:start slur:stop' on one note ends the
        old slur and begins a new one; the element order follows the tokens."""
        open_slurs = self._part.open_slurs
        closed = [open_slurs.pop() if open_slurs else 1 for _ in range(slurs.count("slur:stop"))]
        for slur in slurs:
            if slur == "slur:stop":
                note.slurs.append(("stop", closed.pop(0)))
            else:
                number = min(set(range(1, len(open_slurs) + 2)) - set(open_slurs))
                open_slurs.append(number)
                note.slurs.append(("start", number))


def _splits_into(quarters: Fraction, note_types: list[str]) -> bool:
    """Whether the linearizer would write a move of `quarters` as exactly these types.

    Consecutive backups (forwards) merge into one element only then, so that
    two separate <forward> elements in the source stay two.
    """
    return decompose_duration(quarters) == (note_types, 0)


def _value(token: str | None) -> str | None:
    """The part after the first colon: 'voice:2' -> '2'."""
    return token.split(":", 1)[1] if token else None


def _duration(note_type: str, dots: int, modification: str | None) -> Fraction:
    """Length in quarter notes of a note type with dots and a tuplet ratio."""
    quarters = NOTE_TYPE_QUARTERS[note_type] * (2 - Fraction(1, 2**dots))
    if modification:
        actual, normal = modification.split("in")
        quarters *= Fraction(int(normal), int(actual))
    return quarters


# --------------------------------------------------------------------------
# resolution: measure rests, onsets, alterations
# --------------------------------------------------------------------------

def _resolve_measure_rests(measures: list[list[_Event]]) -> None:
    """Gives full-measure rests the length of their measure.

    Full-measure rests are `rest:measure` and, by engraving convention, a
    whole rest alone in its voice (Sibelius and others write a 3/4 bar rest
    as a whole rest lasting 3 quarters). Their measure lasts as the time
    signature says; before any time signature (a system from mid-piece), as
    long as the longest measure of the sequence, else 4 quarters.
    """
    full_rests = [rest for events in measures for rest in _full_measure_rests(events)]
    unknown = [rest for rest in full_rests if rest.bar_quarters is None]
    fallback = _DEFAULT_MEASURE_QUARTERS
    if unknown:
        excluded = {id(rest) for rest in full_rests}
        fallback = max((_content_length(m, excluded) for m in measures), default=0) or fallback
    for rest in full_rests:
        rest.duration = rest.bar_quarters or fallback


def _full_measure_rests(events: list[_Event]) -> list[_Note]:
    """Measure rests, and whole rests that are alone between backups."""
    found = [e for e in events if isinstance(e, _Note) and e.measure_rest]
    section: list[_Note] = []
    for event in [*events, _Move(BACKUP_TOKEN, Fraction(0))]:  # the end closes a section too
        if isinstance(event, _Note):
            section.append(event)
        elif isinstance(event, _Move) and event.kind == BACKUP_TOKEN:
            if len(section) == 1 and _is_plain_whole_rest(section[0]):
                found.append(section[0])
            section = []
    return found


def _is_plain_whole_rest(note: _Note) -> bool:
    return (note.is_rest and note.note_type == "whole" and not note.dots and not note.grace
            and note.time_modification is None)


def _content_length(events: list[_Event], excluded: set[int]) -> Fraction:
    """How far the measure's content reaches, not counting the `excluded` notes."""
    onset = longest = Fraction(0)
    for event in events:
        if isinstance(event, _Move):
            onset += event.duration if event.kind == FORWARD_TOKEN else -event.duration
        elif isinstance(event, _Note) and not event.chord and id(event) not in excluded:
            onset += event.duration or 0
        longest = max(longest, onset)
    return longest


def _infer_onsets_and_alters(measures: list[list[_Event]], problems: _Problems) -> None:
    """Clamps backups to the measure start and sets each note's <alter>.

    A note's alteration is its own accidental, else that of the note it is
    tied from, else the latest accidental on the same staff, step and octave
    earlier in the measure, else the key signature.
    """
    fifths = 0
    tied_from: dict[tuple, int] = {}
    for events in measures:
        onsets = _onsets(events, problems)
        accidentals = _measure_accidentals(events, onsets)
        for event, onset in zip(events, onsets):
            if isinstance(event, _Attributes) and event.fifths is not None:
                fifths = event.fifths
            if not isinstance(event, _Note) or event.is_rest:
                continue
            where = (event.staff or "1", event.step, event.octave)
            if event.accidental is not None:
                event.alter = ACCIDENTAL_ALTER[event.accidental]
            elif "stop" in event.ties and where in tied_from:
                event.alter = tied_from[where]
            else:
                carried = [alter for when, alter in accidentals.get(where, []) if when <= onset]
                event.alter = carried[-1] if carried else key_signature_alter(fifths, event.step)
            if "stop" in event.ties:
                tied_from.pop(where, None)
            if "start" in event.ties:
                tied_from[where] = event.alter
        events[:] = [e for e in events if not (isinstance(e, _Move) and e.duration <= 0)]


def _onsets(events: list[_Event], problems: _Problems) -> list[Fraction]:
    """Onset of each event in quarters from the measure start (backups clamped)."""
    onsets: list[Fraction] = []
    onset = chord_onset = Fraction(0)
    for event in events:
        if isinstance(event, _Note) and event.chord:
            onsets.append(chord_onset)
            continue
        onsets.append(onset)
        if isinstance(event, _Note):
            chord_onset = onset
            onset += event.duration or 0
        elif isinstance(event, _Move) and event.kind == FORWARD_TOKEN:
            onset += event.duration
        elif isinstance(event, _Move):
            if event.duration > onset:
                problems.add(None, f"backup of {event.duration} quarters goes before the measure "
                                   f"start; shortened to {onset}")
                event.duration = onset
            onset -= event.duration
    return onsets


def _measure_accidentals(events: list[_Event], onsets: list[Fraction]) -> dict[tuple, list]:
    """(staff, step, octave) -> [(onset, alter)] of printed accidentals, by onset."""
    found: dict[tuple, list] = {}
    for event, onset in zip(events, onsets):
        if isinstance(event, _Note) and not event.is_rest and event.accidental is not None:
            key = (event.staff or "1", event.step, event.octave)
            found.setdefault(key, []).append((onset, ACCIDENTAL_ALTER[event.accidental]))
    for entries in found.values():
        entries.sort(key=lambda entry: entry[0])
    return found


# --------------------------------------------------------------------------
# serialization
# --------------------------------------------------------------------------

def _to_musicxml(measures: list[list[_Event]]) -> str:
    divisions = _common_divisions(measures)
    staves = _staff_count(measures)
    score = ET.Element("score-partwise", version="4.0")
    part_list = ET.SubElement(score, "part-list")
    score_part = ET.SubElement(part_list, "score-part", id="P1")
    ET.SubElement(score_part, "part-name", {"print-object": "no"}).text = "Music"
    part = ET.SubElement(score, "part", id="P1")
    for number, events in enumerate(measures, start=1):
        if number == 1:
            events = _with_head_attributes(events)
        measure = ET.SubElement(part, "measure", number=str(number))
        for event in events:
            if isinstance(event, _Attributes):
                head = number == 1 and event is events[0]
                measure.append(_attributes_xml(event, divisions if head else None,
                                               staves if head and staves > 1 else None))
            elif isinstance(event, _Move):
                move = ET.SubElement(measure, event.kind)
                ET.SubElement(move, "duration").text = str(int(event.duration * divisions))
            else:
                measure.append(_note_xml(event, divisions))
    ET.indent(score)
    return _XML_HEADER + ET.tostring(score, encoding="unicode") + "\n"


def _with_head_attributes(events: list[_Event]) -> list[_Event]:
    """The first measure must open with <attributes> to carry <divisions>."""
    if events and isinstance(events[0], _Attributes):
        return events
    return [_Attributes(), *events]


def _common_divisions(measures: list[list[_Event]]) -> int:
    durations = [
        e.duration for m in measures for e in m
        if isinstance(e, (_Note, _Move)) and e.duration is not None
    ]
    return math.lcm(1, *(d.denominator for d in durations))


def _staff_count(measures: list[list[_Event]]) -> int:
    numbers = [1]
    for event in (e for m in measures for e in m):
        if isinstance(event, _Note) and event.staff:
            numbers.append(int(event.staff))
        elif isinstance(event, _Attributes):
            numbers.extend(s for s in event.clefs if s is not None)
    return max(numbers)


def _attributes_xml(attributes: _Attributes, divisions: int | None, staves: int | None) -> ET.Element:
    element = ET.Element("attributes")
    if divisions is not None:
        ET.SubElement(element, "divisions").text = str(divisions)
    if attributes.fifths is not None:
        ET.SubElement(ET.SubElement(element, "key"), "fifths").text = str(attributes.fifths)
    if attributes.time is not None:
        time = ET.SubElement(element, "time")
        ET.SubElement(time, "beats").text = str(attributes.time[0])
        ET.SubElement(time, "beat-type").text = str(attributes.time[1])
    if staves is not None:
        ET.SubElement(element, "staves").text = str(staves)
    for staff in sorted(attributes.clefs, key=lambda s: s or 0):
        clef = ET.SubElement(element, "clef", {"number": str(staff)} if staff else {})
        sign, line = attributes.clefs[staff]
        ET.SubElement(clef, "sign").text = sign
        ET.SubElement(clef, "line").text = line
    return element


def _note_xml(note: _Note, divisions: int) -> ET.Element:
    element = ET.Element("note", {} if note.print_object else {"print-object": "no"})
    if note.grace:
        ET.SubElement(element, "grace", {"slash": "yes"} if note.grace_slash else {})
    if note.chord:
        ET.SubElement(element, "chord")
    if note.is_rest:
        ET.SubElement(element, "rest", {"measure": "yes"} if note.measure_rest else {})
    else:
        pitch = ET.SubElement(element, "pitch")
        ET.SubElement(pitch, "step").text = note.step
        if note.alter:
            ET.SubElement(pitch, "alter").text = str(note.alter)
        ET.SubElement(pitch, "octave").text = note.octave
    if note.duration is not None:
        ET.SubElement(element, "duration").text = str(int(note.duration * divisions))
    for kind in sorted(set(note.ties), key=lambda k: k != "stop"):
        ET.SubElement(element, "tie", type=kind)
    _optional_text(element, "voice", note.voice)
    _optional_text(element, "type", note.note_type)
    for _ in range(note.dots):
        ET.SubElement(element, "dot")
    _optional_text(element, "accidental", note.accidental)
    if note.time_modification is not None:
        modification = ET.SubElement(element, "time-modification")
        ET.SubElement(modification, "actual-notes").text = note.time_modification[0]
        ET.SubElement(modification, "normal-notes").text = note.time_modification[1]
    _optional_text(element, "stem", note.stem)
    _optional_text(element, "staff", note.staff)
    for level, value in note.beams:
        ET.SubElement(element, "beam", number=str(level)).text = value
    notations = _notations_xml(note)
    if len(notations):
        element.append(notations)
    return element


def _notations_xml(note: _Note) -> ET.Element:
    notations = ET.Element("notations")
    for kind in note.ties:
        ET.SubElement(notations, "tied", type=kind)
    for kind, number in note.slurs:
        ET.SubElement(notations, "slur", type=kind, number=str(number))
    for kind in note.tuplets:
        ET.SubElement(notations, "tuplet", type=kind)
    if note.trill or note.tremolo:
        ornaments = ET.SubElement(notations, "ornaments")
        if note.trill:
            ET.SubElement(ornaments, "trill-mark")
        if note.tremolo:
            ET.SubElement(ornaments, "tremolo", type=note.tremolo[0]).text = note.tremolo[1]
    if note.articulations:
        articulations = ET.SubElement(notations, "articulations")
        for articulation in note.articulations:
            ET.SubElement(articulations, articulation)
    if note.fermata:
        ET.SubElement(notations, "fermata")
    if note.arpeggiate:
        ET.SubElement(notations, "arpeggiate")
    return notations


def _optional_text(parent: ET.Element, tag: str, text: str | None) -> None:
    if text is not None:
        ET.SubElement(parent, tag).text = text
