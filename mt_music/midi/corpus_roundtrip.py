"""Whole-piece MIDI codec round trip over music21's corpus: export, window, encode, decode, stitch, score.

`run_corpus` measures pieces, `report` formats the table; `tools/midi_roundtrip_corpus.py` is the
command line.
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys
import warnings
from collections.abc import Iterable, Sequence

# Run from a checkout without installing: make `mt_music` importable from the repository root.
from mt_music.midi.codec import MidiEventCodec
from mt_music.midi.metrics import F1Score, measure_roundtrip
from mt_music.midi.notes import MidiReadError, read_midi_notes

# Composer and how many of their scores to take: chorales dominate the corpus, the rest adds
# many-voice madrigals and masses, string quartets, piano, and instruments with other programs.
# (Beethoven's first corpus entries are huge late quartets that music21 fails to export.)
DEFAULT_PIECES = ("bach:41", "monteverdi:5", "palestrina:5", "trecento:4", "mozart:2", "haydn:2",
                  "handel:1", "corelli:1", "verdi:1", "joplin:1", "schubert:1", "weber:1")
SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn")  # .abc files hold collections of tunes


@dataclasses.dataclass(frozen=True)
class CorpusPiece:
    """A corpus score and the MIDI file it is exported to."""

    name: str  # path inside music21's corpus, e.g. "bach/bwv10.7.mxl"
    source: pathlib.Path


@dataclasses.dataclass(frozen=True)
class PieceResult:
    name: str
    error: str | None = None  # why the piece could not be measured (export/read failure)
    num_notes: int = 0
    num_windows: int = 0
    onset: F1Score | None = None
    onset_offset: F1Score | None = None
    identical: bool = False
    invalid_events: int = 0

    @property
    def perfect(self) -> bool:
        return (self.error is None and self.identical and self.invalid_events == 0
                and self.onset.f1 == 1.0 and self.onset_offset.f1 == 1.0)


# ------------------------------------------------------------------------- selection
def select_pieces(specs: Iterable[str]) -> list[CorpusPiece]:
    """Corpus scores for specs 'composer[:count]' (all of the composer's scores without a count)."""
    from music21 import corpus

    pieces = []
    for spec in specs:
        composer, _, count_text = spec.partition(":")
        count = int(count_text) if count_text else None
        paths = [pathlib.Path(p) for p in corpus.getComposer(composer)]
        scores = [p for p in paths if p.suffix in SCORE_SUFFIXES]
        if not scores:
            raise ValueError(f"music21 corpus has no scores for composer {composer!r}")
        pieces += [CorpusPiece(_corpus_name(path), path) for path in scores[:count]]
    return pieces


def _corpus_name(path: pathlib.Path) -> str:
    parts = path.parts
    return "/".join(parts[parts.index("corpus") + 1:]) if "corpus" in parts else path.name


def midi_path_for(piece: CorpusPiece, export_dir: pathlib.Path) -> pathlib.Path:
    return export_dir / (piece.name.replace("/", "__") + ".mid")


# ---------------------------------------------------------------------------- export
def export_midi(piece: CorpusPiece, export_dir: pathlib.Path) -> pathlib.Path:
    """Write the piece's MIDI with music21 (reusing an earlier export); raise on failure."""
    target = midi_path_for(piece, export_dir)
    if target.is_file() and target.stat().st_size > 0:
        return target
    from music21 import converter, stream

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # music21 warns about every overfull measure
        score = converter.parse(piece.source)
        if not isinstance(score, stream.Score):
            raise TypeError(f"not a single score ({type(score).__name__})")
        score.write("midi", fp=str(target))
    return target


def export_pieces(pieces: Sequence[CorpusPiece], export_dir: pathlib.Path,
                  progress: bool = False) -> dict[str, pathlib.Path | str]:
    """MIDI path per piece name, or the reason its export failed."""
    exported: dict[str, pathlib.Path | str] = {}
    for piece in _progress(pieces, progress, "export"):
        try:
            exported[piece.name] = export_midi(piece, export_dir)
        except Exception as error:  # noqa: BLE001 - music21 fails in many ways on odd scores
            exported[piece.name] = f"export failed: {type(error).__name__}: {error}"[:200]
    return exported


# --------------------------------------------------------------------------- measure
def measure_piece(name: str, midi_path: pathlib.Path, codec: MidiEventCodec,
                  window_seconds: float) -> PieceResult:
    try:
        notes = read_midi_notes(midi_path)
    except MidiReadError as error:
        return PieceResult(name, error=f"read failed: {error}"[:200])
    result = measure_roundtrip(notes, codec, window_seconds)
    return PieceResult(name, num_notes=result.onset.num_reference, num_windows=result.num_windows,
                       onset=result.onset, onset_offset=result.onset_offset, identical=result.identical,
                       invalid_events=result.stats.invalid_events)


def run_corpus(pieces: Sequence[CorpusPiece], export_dir: pathlib.Path, *, window_seconds: float = 10.0,
               max_shift_steps: int | None = None, progress: bool = False) -> list[PieceResult]:
    """Export (or reuse) every piece's MIDI and measure its round trip."""
    codec = MidiEventCodec(max_shift_steps=max_shift_steps or round(window_seconds * 100))
    results = []
    for piece in _progress(pieces, progress, "round trip"):
        exported = export_pieces([piece], export_dir).get(piece.name)
        if isinstance(exported, str):
            results.append(PieceResult(piece.name, error=exported))
        else:
            results.append(measure_piece(piece.name, exported, codec, window_seconds))
    return results


def pooled(results: Iterable[PieceResult], attribute: str) -> F1Score:
    """Counts summed over measured pieces (micro average)."""
    scores = [getattr(r, attribute) for r in results if r.error is None]
    return F1Score(sum(s.num_reference for s in scores), sum(s.num_estimated for s in scores),
                   sum(s.num_matched for s in scores))


def _progress(items: Sequence, enabled: bool, label: str):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=label, unit="piece", file=sys.stderr)


# ---------------------------------------------------------------------------- report
def report(results: Sequence[PieceResult]) -> str:
    measured = [r for r in results if r.error is None]
    lines = [f"skipped {r.name}: {r.error}" for r in results if r.error is not None]
    lines += [f"FAILED {r.name}: onset F1 {r.onset.f1:.4f}, onset+offset F1 {r.onset_offset.f1:.4f}, "
              f"identical {r.identical}, invalid events {r.invalid_events}"
              for r in measured if not r.perfect]
    onset, onset_offset = pooled(measured, "onset"), pooled(measured, "onset_offset")
    lines += [
        (f"pieces: {len(results)} selected, {len(measured)} measured, "
         f"{len(results) - len(measured)} skipped, {sum(r.perfect for r in measured)} perfect"),
        (f"notes: {onset.num_reference} reference, {onset.num_estimated} decoded; "
         f"windows: {sum(r.num_windows for r in measured)}"),
        f"pooled onset F1: {onset.f1:.4f}   pooled onset+offset F1: {onset_offset.f1:.4f}",
    ]
    if measured:
        lines.append(f"lowest per-piece onset F1: {min(r.onset.f1 for r in measured):.4f}   "
                     f"lowest onset+offset F1: {min(r.onset_offset.f1 for r in measured):.4f}")
    return "\n".join(lines)
