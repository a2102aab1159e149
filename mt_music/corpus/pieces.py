"""Pieces of music21's bundled corpus: catalogue, selection, splits, parsing, pianoform reduction.

A piece is one score of the corpus: a file, or one tune of a multi-tune ABC file (its id then ends
in `#N`). The catalogue comes from music21's metadata bundle, de-duplicated (a work that exists as
.mxl and .krn is taken once, preferring MusicXML) and without analyses (.rntxt) and demo files.

Pianoform reduction (mt_music.lmx.pianoform, so that LMX, which describes one part of 1-3 staves, applies):
  * one ordinary part: kept as one staff (folk tunes);
  * a keyboard score (two PartStaffs of one StaffGroup and nothing else): kept as is;
  * 2-6 ordinary parts with the same number of measures (chorales, quartets, madrigals, masses): the upper
    ceil(n/2) parts go to staff 1 and the rest to staff 2, each part one VOICE (voices 1-3 on
    staff 1, 5-7 on staff 2, like MuseScore/GrandStaff), stems up/down by voice, one clef per
    staff chosen from its range; lyrics, chord symbols, instruments and layout objects dropped.
Anything else raises `PieceError` with the reason, which the builder lists.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import pathlib
from collections.abc import Iterable, Sequence

from mt_music.lmx.pianoform import PianoformError
from mt_music.lmx.pianoform import pianoform as reduce_to_pianoform

EXCLUDED_COLLECTIONS = frozenset({"demos", "theoryExercises"})
EXCLUDED_SUFFIXES = frozenset({".rntxt"})
SUFFIX_PREFERENCE = (".mxl", ".musicxml", ".xml", ".krn", ".abc")
FOLK_COLLECTIONS = frozenset({
    "essenFolksong", "oneills1850", "ryansMammoth", "airdsAirs", "miscFolk", "nottingham-dataset",
})
PIANO_RANGE = (21, 108)

# Splits by piece: a hash of the piece id, so a piece's split never depends on what else is built.
SPLIT_FRACTIONS = (("train", 0.85), ("validation", 0.07), ("test", 0.08))


class PieceError(Exception):
    """A piece cannot become pianoform MusicXML; the message is the reason the builder lists."""


@dataclasses.dataclass(frozen=True)
class CorpusPiece:
    """One score of music21's corpus."""

    piece_id: str  # corpus path without suffix, plus "#N" for a tune of a multi-tune file
    source_path: str  # corpus-relative path with suffix
    number: int | None  # tune number inside a multi-tune (ABC) file
    collection: str  # top folder of the corpus path (bach, palestrina, essenFolksong, ...)
    composer: str
    title: str

    @property
    def split(self) -> str:
        return split_of(self.piece_id)


def corpus_root() -> pathlib.Path:
    import music21

    return pathlib.Path(music21.__file__).resolve().parent / "corpus"


@functools.lru_cache(maxsize=1)
def catalog() -> tuple[CorpusPiece, ...]:
    """Every usable piece of music21's core corpus, sorted by id (~15k; 2 s, cached)."""
    import music21

    best: dict[str, tuple[int, CorpusPiece]] = {}
    bundle = music21.corpus.corpora.CoreCorpus().metadataBundle
    # iterating the bundle indexes it entry by entry, O(n) each (10 s); read its dict directly
    entries = getattr(bundle, "_metadataEntries", None)
    for entry in (entries.values() if isinstance(entries, dict) else bundle):
        source = pathlib.PurePosixPath(str(entry.sourcePath))
        collection = source.parts[0]
        if source.suffix in EXCLUDED_SUFFIXES or collection in EXCLUDED_COLLECTIONS:
            continue
        number = entry.number if source.suffix == ".abc" else None
        piece_id = str(source.with_suffix("")) + (f"#{number}" if number is not None else "")
        metadata = entry.metadata
        composer = _clean_text(getattr(metadata, "composer", None))
        if not composer:
            composer = "Traditional" if collection in FOLK_COLLECTIONS else collection
        title = _clean_text(getattr(metadata, "bestTitle", None) or getattr(metadata, "title", None))
        rank = SUFFIX_PREFERENCE.index(source.suffix) if source.suffix in SUFFIX_PREFERENCE else 99
        piece = CorpusPiece(piece_id, str(source), number, collection, composer, title or piece_id)
        if piece_id not in best or rank < best[piece_id][0]:
            best[piece_id] = (rank, piece)
    return tuple(piece for _, piece in sorted(best.values(), key=lambda item: item[1].piece_id))


def _clean_text(value: object) -> str:
    return " ".join(str(value).split()) if value else ""


@functools.lru_cache(maxsize=1)
def _collection_names() -> frozenset[str]:
    return frozenset(p.collection.lower() for p in catalog())


def piece_by_id(piece_id: str) -> CorpusPiece:
    """The catalogue entry of a piece id (also accepts an id with its file suffix)."""
    pieces = {piece.piece_id: piece for piece in catalog()}
    if piece_id in pieces:
        return pieces[piece_id]
    stem, _, number = piece_id.partition("#")
    stripped = str(pathlib.PurePosixPath(stem).with_suffix("")) + (f"#{number}" if number else "")
    if stripped in pieces:
        return pieces[stripped]
    raise KeyError(f"not in music21's corpus catalogue: {piece_id}")


def split_of(piece_id: str) -> str:
    """train / validation / test, from a hash of the piece id (85 / 7 / 8 %)."""
    value = _unit_hash("split", piece_id)
    cumulative = 0.0
    for name, fraction in SPLIT_FRACTIONS:
        cumulative += fraction
        if value < cumulative:
            return name
    return SPLIT_FRACTIONS[-1][0]


def _unit_hash(*parts: object) -> float:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def matches_composer(piece: CorpusPiece, patterns: Iterable[str]) -> bool:
    """A pattern that names a collection folder (bach, palestrina, essenFolksong, ...) selects that
    collection exactly; any other pattern is a case-insensitive substring of the composer name."""
    collections = _collection_names()
    for pattern in patterns:
        pattern = pattern.lower()
        if pattern in collections:
            if piece.collection.lower() == pattern:
                return True
        elif pattern in piece.composer.lower():
            return True
    return False


def select_pieces(
    pieces: Sequence[CorpusPiece],
    *,
    count: int | None = None,
    composers: Sequence[str] | None = None,
    piece_ids: Sequence[str] | None = None,
    seed: int = 0,
) -> list[CorpusPiece]:
    """A deterministic selection.

    `piece_ids` picks exactly those pieces; otherwise `composers` filters, and `count` takes a
    seeded sample that goes round-robin over the collections (so a small build mixes chorales,
    folk tunes, Palestrina, ...), with at least one validation and one test piece when count ≥ 3.
    The result is sorted by piece id.
    """
    if piece_ids:
        return sorted({piece_by_id(piece_id) for piece_id in piece_ids}, key=lambda p: p.piece_id)
    chosen = [p for p in pieces if not composers or matches_composer(p, composers)]
    if count is None or count >= len(chosen):
        return sorted(chosen, key=lambda p: p.piece_id)
    by_collection: dict[str, list[CorpusPiece]] = {}
    for piece in sorted(chosen, key=lambda p: _unit_hash("select", seed, p.piece_id)):
        by_collection.setdefault(piece.collection, []).append(piece)
    order = sorted(by_collection, key=lambda name: _unit_hash("collection", seed, name))
    picked: list[CorpusPiece] = []
    if count >= 3:  # held-out splits are never empty in a small build
        for split in ("validation", "test"):
            candidates = [p for name in order for p in by_collection[name][:50] if p.split == split]
            if candidates:
                picked.append(candidates[0])
                by_collection[candidates[0].collection].remove(candidates[0])
    cursors = dict.fromkeys(order, 0)
    while len(picked) < count:
        progressed = False
        for name in order:
            if len(picked) >= count:
                break
            if cursors[name] < len(by_collection[name]):
                picked.append(by_collection[name][cursors[name]])
                cursors[name] += 1
                progressed = True
        if not progressed:
            break
    return sorted(picked, key=lambda p: p.piece_id)


# ---------------------------------------------------------------------------------------------------
# Parsing and reduction (music21)
# ---------------------------------------------------------------------------------------------------


def load_score(piece: CorpusPiece):
    """The music21 Score of a piece (one tune of an ABC file when `number` is set)."""
    import music21

    path = corpus_root() / piece.source_path
    try:
        if piece.number is not None:
            parsed = music21.converter.parse(str(path), number=piece.number)
        else:
            parsed = music21.converter.parse(str(path))
    except Exception as error:  # music21 raises many kinds of errors on odd files
        raise PieceError(f"parse failed: {_one_line(error)}") from None
    if isinstance(parsed, music21.stream.Opus):
        scores = list(parsed.scores)
        if not scores:
            raise PieceError("parse failed: empty opus")
        parsed = scores[0]
    if not isinstance(parsed, music21.stream.Score):
        score = music21.stream.Score()
        score.insert(0, parsed)
        parsed = score
    return parsed


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:200]


def estimated_seconds(score) -> float:
    """Duration estimate: length in quarters at the first metronome mark, else at the default
    tempo for the first time signature (as the performance will use)."""
    from music21 import meter, tempo

    from mt_music.corpus.performance import default_tempo

    first_time = score.recurse().getElementsByClass(meter.TimeSignature).first()
    qpm = default_tempo((first_time.numerator, first_time.denominator) if first_time is not None else None)
    mark = score.recurse().getElementsByClass(tempo.MetronomeMark).first()
    if mark is not None:
        try:
            qpm = float(mark.getQuarterBPM() or qpm)
        except Exception:  # noqa: BLE001 - text-only marks
            pass
    return float(score.highestTime) * 60.0 / max(qpm, 1.0)


def pianoform(score):
    """A new Score of one part with one or two staves (see the module docstring); PieceError otherwise."""
    try:
        return reduce_to_pianoform(score)
    except PianoformError as error:
        raise PieceError(str(error)) from None


# ---------------------------------------------------------------------------------------------------
# Transposition
# ---------------------------------------------------------------------------------------------------

# (interval name, change of key-signature fifths) for each upward shift in semitones; downward shifts
# use the same intervals downward (negated fifths). Two spellings per shift; the builder takes the
# one that keeps the key signatures smallest, so C major up a semitone becomes D-flat, not C-sharp.
_SPELLINGS = {
    1: (("m2", -5), ("A1", 7)),
    2: (("M2", 2), ("d3", -10)),
    3: (("m3", -3), ("A2", 9)),
    4: (("M3", 4), ("d4", -8)),
    5: (("P4", -1), ("A3", 11)),
    6: (("A4", 6), ("d5", -6)),
}


def transposition_interval(semitones: int, key_fifths: Sequence[int]) -> tuple[str, int] | None:
    """(music21 interval name with sign, fifths change) for a shift; None for 0 or no spelling.

    The spelling keeps every key signature of the piece within ±7 and minimises the largest one.
    """
    if semitones == 0:
        return None
    sign = 1 if semitones > 0 else -1
    candidates = []
    for name, delta in _SPELLINGS[abs(semitones)]:
        shifted = [fifths + sign * delta for fifths in (key_fifths or [0])]
        worst = max(abs(f) for f in shifted)
        if worst <= 7:
            candidates.append((worst, name, sign * delta))
    if not candidates:
        return None
    _, name, delta = min(candidates)
    return (name if sign > 0 else f"-{name}"), delta


def key_signature_fifths(score) -> list[int]:
    from music21 import key

    return sorted({ks.sharps for ks in score.recurse().getElementsByClass(key.KeySignature)})


def pitch_range(score) -> tuple[int, int]:
    pitches = [p.midi for n in score.recurse().notes for p in n.pitches]
    if not pitches:
        raise PieceError("no notes")
    return min(pitches), max(pitches)


def transpose(score, semitones: int) -> int:
    """Transposes in place with correct respelling; returns the shift applied (0 if impossible).

    A shift that would leave the piano range or need a key signature beyond ±7 is not applied.
    """
    if semitones == 0:
        return 0
    spelling = transposition_interval(semitones, key_signature_fifths(score))
    low, high = pitch_range(score)
    if spelling is None or low + semitones < PIANO_RANGE[0] or high + semitones > PIANO_RANGE[1]:
        return 0
    score.transpose(spelling[0], inPlace=True)
    return semitones


def spell_accidentals(score) -> None:
    """Lets music21 decide displayed accidentals (the XML pass in `notation` finalises them)."""
    for part in score.parts:
        try:
            part.makeAccidentals(inPlace=True, overrideStatus=True)
        except Exception:  # noqa: BLE001 - notation.respell_accidentals fixes whatever is left
            pass


def make_beams(score) -> None:
    """Beams for measures whose notes have none (Humdrum imports come unbeamed)."""
    from music21 import stream

    for part in score.parts:
        for measure in part.getElementsByClass(stream.Measure):
            containers = list(measure.voices) or [measure]
            for container in containers:
                notes = list(container.notes)
                if not any(n.duration.quarterLength < 1 for n in notes):
                    continue
                if any(n.beams and len(n.beams) for n in notes):
                    continue
                try:
                    container.makeBeams(inPlace=True)
                except Exception:  # noqa: BLE001 - unbeamed flags are still correct notation
                    pass


def to_musicxml(score) -> bytes:
    """MusicXML bytes of a music21 score.

    music21's exporter runs with makeNotation off: it would deep-copy the score, renumber our
    voices and fill pickup measures with hidden rests (which would add silence to the
    performance). Notes with durations MusicXML cannot express are split first if needed.
    """
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    def export() -> bytes:
        exporter = GeneralObjectExporter(score)
        exporter.makeNotation = False
        return exporter.parse()

    try:
        return export()
    except Exception as first_error:  # noqa: BLE001
        try:
            score.splitAtDurations(recurse=True)
            return export()
        except Exception:  # noqa: BLE001
            raise PieceError(f"MusicXML export failed: {_one_line(first_error)}") from None
