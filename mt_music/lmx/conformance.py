"""How faithfully LMX round-trips real music: token and note-level checks over music21's corpus.

Samples (systems or whole parts of one-part MusicXML scores) are drawn round-robin from several
groups; `run` checks them and returns a `Report`. `tools/lmx_conformance.py` is the command line.
"""

from __future__ import annotations

import collections
import copy
import random
import sys
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from mt_music.lmx.delinearize import delinearize
from mt_music.lmx.errors import LmxError
from mt_music.lmx.linearize import (
    count_systems,
    linearize,
    read_musicxml,
    system_starts,
)
from mt_music.lmx.vocabulary import key_signature_alter

GRAND_STAFF_SCORES = (
    "bach/bwv846.mxl", "beach/prayer_of_a_tired_child.musicxml", "cpebach/h186.mxl",
    "handel/rinaldo/Lascia_chio_pianga.mxl", "joplin/maple_leaf_rag.mxl",
    "liliuokalani/aloha_oe.mxl", "mozart/k545/movement1_exposition.mxl",
    "schoenberg/opus19/movement2.mxl", "schoenberg/opus19/movement6.mxl",
    "schubert/Lindenbaum.xml", "schumann_clara/opus17/movement3.xml",
    "schumann_clara/polonaise_op1n1.mxl", "schumann_clara/polonaise_op1n2.mxl",
    "schumann_clara/polonaise_op1n3.mxl", "schumann_clara/polonaise_op1n4.mxl",
    "schumann_robert/dichterliebe_no2.xml", "schumann_robert/opus48no2.mxl",
    "verdi/laDonnaEMobile.mxl", "weber/concertino_clarinet.mxl",
    "trecento/PMFC_12_9-Gloria Clementiae Pax.xml",
)
QUARTET_DIRECTORIES = ("haydn", "mozart", "beethoven", "schumann_robert/opus41no1")
EXPORTED_SOURCES = (
    "chopin/mazurka06-2.krn", "beethoven/opus18no1/movement4.krn",
    "palestrina/Agnus_01.krn", "palestrina/Kyrie_09.krn", "palestrina/Sanctus_03.krn",
    "palestrina/Gloria_11.krn", "essenFolksong/han1.abc", "essenFolksong/teste.abc",
)
BREAK_EVERY = 6  # measures per artificial system where a part has no breaks


# --------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------

@dataclass
class Sample:
    """One part of a score (single-part MusicXML) and the system to linearize."""

    name: str
    musicxml: bytes
    system: int | None
    group: str
    unreadable: str | None = None  # why the source could not be turned into MusicXML


def corpus_root() -> Path:
    import music21.corpus

    return Path(music21.corpus.__file__).parent


def single_part_documents(root: ET.Element) -> Iterator[tuple[str, bytes]]:
    """(part label, one-part score-partwise document) for each part of a score."""
    for index, part in enumerate(root.findall("part"), start=1):
        part_id = part.get("id", "")
        document = ET.Element(root.tag, root.attrib)
        for child in root:
            if child.tag == "part-list":
                part_list = ET.SubElement(document, "part-list")
                part_list.extend(
                    copy.deepcopy(s) for s in child.findall("score-part") if s.get("id") == part_id
                )
            elif child.tag != "part":
                document.append(copy.deepcopy(child))
        part_copy = copy.deepcopy(part)
        _ensure_system_breaks(part_copy)
        document.append(part_copy)
        yield f"part{index}", ET.tostring(document)


def _ensure_system_breaks(part: ET.Element) -> None:
    """Adds a system break every BREAK_EVERY measures to parts that have none."""
    measures = part.findall("measure")
    has_breaks = any(
        p.get("new-system") == "yes" or p.get("new-page") == "yes"
        for m in measures[1:] for p in m.findall("print")
    )
    if has_breaks:
        return
    for index in range(BREAK_EVERY, len(measures), BREAK_EVERY):
        measures[index].insert(0, ET.Element("print", {"new-system": "yes"}))


def _score_root(path: Path) -> ET.Element:
    if path.suffix in (".mxl", ".xml", ".musicxml"):
        return read_musicxml(path)
    import music21
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = music21.converter.parse(path)
        return ET.fromstring(GeneralObjectExporter(score).parse())


def samples_from_score(
    path: Path, group: str, systems_per_part: int, part_filter: Callable[[bytes], bool]
) -> Iterator[Sample]:
    """Samples of every part of one score: up to `systems_per_part` systems each
    (0: the whole part as one sample, ignoring breaks)."""
    relative = path.relative_to(corpus_root())
    try:
        root = _score_root(path)
    except Exception as error:  # noqa: BLE001 - corpus files that music21 cannot export
        yield Sample(f"{relative}", b"", None, group, f"unreadable source ({type(error).__name__})")
        return
    for part_label, document in single_part_documents(root):
        if not part_filter(document):
            continue
        if _prints_no_accidentals(document):
            yield Sample(f"{relative}#{part_label}", b"", None, group,
                         "source alters pitches but prints no <accidental> at all")
            continue
        if systems_per_part == 0:
            yield Sample(f"{relative}#{part_label}", document, None, group)
            continue
        try:
            systems = count_systems(document)
        except LmxError:
            systems = 1
        for system in _spread(systems, systems_per_part):
            yield Sample(f"{relative}#{part_label}/system{system}", document, system, group)


def _spread(count: int, most: int) -> list[int]:
    """Up to `most` indices evenly spread over range(count)."""
    if count <= most:
        return list(range(count))
    return sorted({round(i * (count - 1) / (most - 1)) for i in range(most)}) if most > 1 else [0]


def _prints_no_accidentals(document: bytes) -> bool:
    """Sources with alterations outside the key but no <accidental> elements at all.

    LMX holds printed accidentals, so such files (e.g. Sibelius exports of
    some quartets) cannot be represented; they are skipped, not failed.
    """
    root = ET.fromstring(document)
    if root.find(".//accidental") is not None:
        return False
    fifths = 0
    for element in root.iter():
        if element.tag == "fifths":
            fifths = int(float(element.text or 0))
        elif element.tag == "pitch":
            alter = float(element.findtext("alter") or 0)
            if alter != key_signature_alter(fifths, (element.findtext("step") or "C").strip()):
                return True
    return False


def _is_multi_staff(document: bytes) -> bool:
    return any(int(s.text or "1") > 1 for s in ET.fromstring(document).iter("staves"))


def sample_groups(seed: int, systems_per_part: int) -> dict[str, Iterator[Sample]]:
    """Lazy sample iterators, one per kind of music."""
    root = corpus_root()
    rng = random.Random(seed)
    grand = [root / p for p in GRAND_STAFF_SCORES]
    chorales = sorted(p for p in (root / "bach").glob("bwv*") if p.suffix in (".mxl", ".xml"))
    chorales = [p for p in chorales if p.name != "bwv846.mxl"]
    quartets = sorted(p for d in QUARTET_DIRECTORIES for p in (root / d).rglob("*.mxl"))
    quartets = [p for p in quartets if str(p.relative_to(root)) not in GRAND_STAFF_SCORES]
    exported = [root / p for p in EXPORTED_SOURCES if (root / p).exists()]
    for files in (grand, chorales, quartets, exported):
        rng.shuffle(files)

    def from_files(files: list[Path], group: str, part_filter: Callable[[bytes], bool]):
        for path in files:
            yield from samples_from_score(path, group, systems_per_part, part_filter)

    return {
        "grand-staff": from_files(grand, "grand-staff", _is_multi_staff),
        "chorale": from_files(chorales, "chorale", lambda d: True),
        "quartet": from_files(quartets, "quartet", lambda d: True),
        "single-staff": from_files(grand, "single-staff", lambda d: not _is_multi_staff(d)),
        "music21-export": from_files(exported, "music21-export", lambda d: True),
    }


def round_robin(groups: dict[str, Iterator[Sample]], limit: int) -> Iterator[Sample]:
    """Takes samples from each group in turn until `limit` or all are exhausted."""
    active = list(groups.values())
    produced = 0
    while active and produced < limit:
        for iterator in list(active):
            sample = next(iterator, None)
            if sample is None:
                active.remove(iterator)
                continue
            yield sample
            produced += 1
            if produced >= limit:
                return


# --------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------

@dataclass
class Outcome:
    """What happened to one sample."""

    name: str
    group: str
    skipped: str | None = None  # reason when the sample could not be linearized
    tokens_ok: bool = False
    notes_ok: bool = False  # pitch (with alteration), onset and length of every note
    rests_ok: bool = False  # ... and of every visible rest
    rests_ok_given_time: bool = False  # ... when delinearize is told the time signature
    failures: list[str] = field(default_factory=list)
    problems: int = 0  # delinearizer problem reports
    token_count: int = 0


NoteKey = tuple  # (offset, "note", step, octave, alter, length), in 1/GRID quarters
GRID = 48  # offsets and lengths are compared in 1/48 quarters: some sources round tuplets


def measure_contents(musicxml: bytes | str) -> list[list[list[NoteKey]]]:
    """[staff][measure] -> sorted notes (chord notes one by one) as music21 reads them."""
    import music21

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = music21.converter.parse(musicxml, format="musicxml", forceSource=True)
    staves = []
    for part in score.parts:
        measures = []
        for measure in part.getElementsByClass(music21.stream.Measure):
            entries = []
            for element in measure.recurse().notes:
                offset = round(element.getOffsetInHierarchy(measure) * GRID)
                length = round(element.quarterLength * GRID)
                for pitch in element.pitches:
                    alter = pitch.accidental.alter if pitch.accidental is not None else 0.0
                    entries.append((offset, "note", pitch.step, pitch.octave, alter, length))
            measures.append(sorted(entries))
        staves.append(measures)
    return staves


def rest_lengths(musicxml: bytes | str) -> list[list[int]]:
    """[measure] -> lengths of its rests in document order, from <duration>.

    Read from the XML rather than through music21, which replaces the length
    of a `<rest measure="yes">` by the bar length of the time signature it
    knows (4/4 when none is given, as in a mid-piece LMX system).
    """
    divisions = Fraction(1)
    lengths = []
    for measure in ET.fromstring(musicxml).find("part").findall("measure"):
        lengths.append([])
        for element in measure:
            if element.tag == "attributes" and element.findtext("divisions"):
                divisions = Fraction(element.findtext("divisions").strip())
            elif element.tag == "note" and element.find("rest") is not None:
                duration = Fraction((element.findtext("duration") or "0").strip())
                lengths[-1].append(round(duration / divisions * GRID))
    return lengths


def system_document(document: bytes, first: int, stop: int) -> bytes:
    """The measures [first, stop) of a one-part score, with the attributes in force.

    Lets music21 read just one system of the source (fast, and measure for
    measure comparable with the delinearized system).
    """
    root = ET.fromstring(document)
    part = root.find("part")
    measures = part.findall("measure")
    in_force: dict[str, ET.Element] = {}
    for measure in measures[:first]:
        for attributes in measure.findall("attributes"):
            for child in attributes:
                key = child.tag + (child.get("number", "1") if child.tag == "clef" else "")
                in_force[key] = child
    for measure in measures[:first] + measures[stop:]:
        part.remove(measure)
    if first and in_force:
        head = ET.Element("attributes")
        head.extend(copy.deepcopy(e) for e in in_force.values())
        order = ("divisions", "key", "time", "staves", "part-symbol", "instruments", "clef")
        head[:] = sorted(head, key=lambda e: order.index(e.tag) if e.tag in order else len(order))
        measures[first].insert(0, head)
    return ET.tostring(root)


def _system_measure_range(document: bytes, system: int | None) -> tuple[int, int]:
    measures = ET.fromstring(document).find("part").findall("measure")
    if system is None:
        return 0, len(measures)
    starts = system_starts(measures)
    stop = starts[system + 1] if system + 1 < len(starts) else len(measures)
    return starts[system], stop


def compare_music(source: list, result: list) -> list[str]:
    """Differences between two [staff][measure] note lists (first one per staff)."""
    if len(source) != len(result):
        return [f"staff count {len(result)} != {len(source)}"]
    failures = []
    for staff, (source_measures, result_measures) in enumerate(zip(source, result), start=1):
        if len(result_measures) != len(source_measures):
            return [f"measure count {len(result_measures)} != {len(source_measures)}"]
        for index, (expected, got) in enumerate(zip(source_measures, result_measures), start=1):
            if expected == got:
                continue
            kind = _mismatch_kind(expected, got)
            detail = next((f"{e} vs {g}" for e, g in zip(expected, got) if e != g), "count")
            failures.append(f"{kind} mismatch (staff {staff}, system measure {index}: {detail})")
            break
    return failures


def _mismatch_kind(expected: list[NoteKey], got: list[NoteKey]) -> str:
    """'pitch' when the notes differ in more than their lengths, else 'note duration'."""
    return "pitch" if [e[:5] for e in expected] != [g[:5] for g in got] else "note duration"


def compare_rests(source: list[list[int]], result: list[list[int]]) -> list[str]:
    """Differences between two [measure] rest-length lists."""
    for index, (expected, got) in enumerate(zip(source, result), start=1):
        if expected != got:
            return [f"rest duration mismatch (system measure {index}: {expected} vs {got} "
                    f"in 1/{GRID} quarters)"]
    return []


def _time_signature_before(document: bytes, first: int) -> tuple[int, int] | None:
    """The time signature in force when measure `first` starts (None if unknown)."""
    found = None
    for measure in ET.fromstring(document).find("part").findall("measure")[:first]:
        for time in measure.iter("time"):
            try:
                found = (int(time.findtext("beats")), int(time.findtext("beat-type")))
            except (TypeError, ValueError):
                found = None
    return found


class Checker:
    """Runs the checks on samples."""

    def __init__(self, flavor: str):
        self.flavor = flavor

    def check(self, sample: Sample) -> Outcome:
        outcome = Outcome(sample.name, sample.group)
        if sample.unreadable:
            outcome.skipped = sample.unreadable
            return outcome
        try:
            tokens = linearize(sample.musicxml, system=sample.system, flavor=self.flavor)
        except LmxError as error:
            outcome.skipped = _reason(str(error))
            return outcome
        outcome.token_count = len(tokens)
        result = delinearize(tokens)
        outcome.problems = len(result.problems)
        again = linearize(result.musicxml, flavor=self.flavor, problems=[])
        outcome.tokens_ok = again == tokens
        if not outcome.tokens_ok:
            outcome.failures.append("tokens differ: " + _first_difference(tokens, again))
        first, stop = _system_measure_range(sample.musicxml, sample.system)
        source = system_document(sample.musicxml, first, stop)
        try:
            note_differences = compare_music(measure_contents(source), measure_contents(result.musicxml))
        except Exception as error:  # noqa: BLE001 - a music21 failure is a finding, not a crash
            note_differences = [f"music21 failed: {type(error).__name__}: {str(error)[:80]}"]
        rest_differences = compare_rests(rest_lengths(source), rest_lengths(result.musicxml))
        outcome.notes_ok = not note_differences
        outcome.rests_ok = outcome.rests_ok_given_time = not rest_differences
        if rest_differences:
            time = _time_signature_before(sample.musicxml, first)
            hinted = delinearize(tokens, time_signature=time).musicxml
            outcome.rests_ok_given_time = not compare_rests(rest_lengths(source), rest_lengths(hinted))
        outcome.failures.extend(note_differences + rest_differences)
        return outcome


def _reason(message: str) -> str:
    """A message without its measure number, so that reasons can be counted."""
    return message.split(": ", 1)[1] if message.startswith("measure ") else message


def _first_difference(expected: list[str], got: list[str]) -> str:
    index = next(
        (i for i, (a, b) in enumerate(zip(expected, got)) if a != b), min(len(expected), len(got))
    )
    return (f"at token {index}: expected {' '.join(expected[index:index + 4])!r}, "
            f"got {' '.join(got[index:index + 4])!r}")


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------

@dataclass
class Report:
    outcomes: list[Outcome]

    @property
    def checked(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.skipped is None]

    def rate(self, attribute: str) -> float:
        checked = self.checked
        return 100.0 * sum(getattr(o, attribute) for o in checked) / max(1, len(checked))

    def text(self, verbose: bool = False) -> str:
        checked = self.checked
        skipped = len(self.outcomes) - len(checked)
        with_problems = sum(1 for o in checked if o.problems)
        tokens_ok, notes_ok = sum(o.tokens_ok for o in checked), sum(o.notes_ok for o in checked)
        rests_ok = sum(o.rests_ok for o in checked)
        lines = [
            f"samples: {len(self.outcomes)}  checked: {len(checked)}  skipped: {skipped}",
            f"tokens: {sum(o.token_count for o in checked)}  with problems: {with_problems}",
            f"token round trip:   {tokens_ok}/{len(checked)} = {self.rate('tokens_ok'):.2f}%",
            f"music21 notes:      {notes_ok}/{len(checked)} = {self.rate('notes_ok'):.2f}%  "
            + "(pitch with alteration, onset, length)",
            f"rest lengths:       {rests_ok}/{len(checked)} = {self.rate('rests_ok'):.2f}%  "
            + "(from <duration>)",
            f"  with delinearize(time_signature=...): {self.rate('rests_ok_given_time'):.2f}%  "
            + "(LMX re-states clef and key at a system start, not time)",
            "by group (checked, tokens ok, notes ok, rests ok):",
        ]
        for group in sorted({o.group for o in checked}):
            members = [o for o in checked if o.group == group]
            counts = [sum(getattr(o, a) for o in members) for a in ("tokens_ok", "notes_ok", "rests_ok")]
            lines.append(f"  {group:15s} {len(members):4d} " + " ".join(f"{c:4d}" for c in counts))
        lines += _counted("skip reasons", [o.skipped for o in self.outcomes if o.skipped])
        lines += _counted("failure reasons", [
            f.split(" (")[0].split(":")[0] for o in checked for f in o.failures
        ])
        if verbose:
            lines.append("failures:")
            lines += [f"  {o.name}: {'; '.join(o.failures)}" for o in checked if o.failures]
        return "\n".join(lines)


def _counted(title: str, reasons: list[str]) -> list[str]:
    if not reasons:
        return [f"{title}: none"]
    counts = collections.Counter(reasons).most_common(15)
    return [f"{title}:"] + [f"  {count:4d}  {reason}" for reason, count in counts]


def run(limit: int, *, seed: int = 0, systems_per_part: int = 3, flavor: str = "extended",
        progress: bool = True) -> Report:
    """Checks up to `limit` samples and returns the report."""
    from tqdm import tqdm

    checker = Checker(flavor)
    samples = round_robin(sample_groups(seed, systems_per_part), limit)
    outcomes = [
        checker.check(s)
        for s in tqdm(samples, total=limit, disable=not progress, unit="sample", file=sys.stderr)
    ]
    return Report(outcomes)
