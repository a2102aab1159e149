"""Quickstart: every music representation on a few pieces of music21's bundled corpus.

The main job until the corpus builder and the training stack land (see README).
For each piece it writes, under --out:

    score.musicxml      the first part as MusicXML (music21 export)
    part.lmx            its LMX tokens; part.delinearized.musicxml back from them
    system0.png         verovio engraving of the first system, rasterized;
                        system0.model_input.png after preprocessing (18 px staff)
    performance.mid     the whole score as MIDI; performance.stitched.mid after
                        10 s event windows -> tokens -> stitching
    performance.flac    FluidSynth audio of the MIDI (44.1 kHz mono)

and prints one table row per piece plus summary.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pathlib
import sys
import time

import numpy as np
import tqdm
from PIL import Image

from mt_music.errors import TRACEBACK_VARIABLE, ArgumentParser, UserError, check_output_dir, main_with_errors, one_line

DEFAULT_PIECES = ("bach/bwv66.6", "bach/bwv4.8", "bach/bwv153.1")


@dataclasses.dataclass
class PieceReport:
    piece: str
    lmx_tokens: int
    lmx_problems: int
    lmx_pitches_match: bool
    staff_height_px: float
    image_grid: tuple[int, int]
    midi_windows: int
    midi_onset_f1: float
    midi_onset_offset_f1: float
    audio_seconds: float
    audio_frames: int
    unified_frames: dict[str, int]


def _pitches(musicxml_path: pathlib.Path) -> list[str]:
    import music21

    part = music21.converter.parse(str(musicxml_path)).parts[0]
    return [p.nameWithOctave for n in part.recurse().notes for p in n.pitches]


def run_piece(name: str, out_dir: pathlib.Path, window_seconds: float) -> PieceReport:
    """Runs all four representations on one corpus piece, writing the artefacts."""
    import music21

    from mt_music import audio, lmx, midi
    from mt_music.audio import synthesis
    from mt_music.image import engraving, pixels, preprocessing, staves
    from mt_music.vocabulary import UnifiedVocabulary

    out_dir.mkdir(parents=True, exist_ok=True)
    score = music21.corpus.parse(name)
    if isinstance(score, music21.stream.Opus):  # a collection of tunes: take the first
        score = score.scores[0]

    # LMX: one part (the soprano) -> tokens -> MusicXML, pitches compared.
    # LMX and the engraving read the PRINTED accidentals; music21's export omits some
    # that the pitches need (e.g. a natural against the key), so spell them first.
    part = score.parts[0]
    part.makeAccidentals(inPlace=True, overrideStatus=True)
    part_xml = out_dir / "score.musicxml"
    part.write("musicxml", fp=str(part_xml))
    tokens = lmx.linearize(part_xml)
    lmx.write_lmx_file(out_dir / "part.lmx", tokens)
    result = lmx.delinearize(tokens)
    (out_dir / "part.delinearized.musicxml").write_text(result.musicxml)
    pitches_match = _pitches(part_xml) == _pitches(out_dir / "part.delinearized.musicxml")

    # Score image: engrave one system per page, preprocess to 18 px staff height.
    page = engraving.engrave(part_xml)[0]
    page.image.save(out_dir / "system0.png")
    prepared = preprocessing.preprocess_score_image(page.image)
    Image.fromarray(pixels.from_model_range(prepared.pixels)).save(out_dir / "system0.model_input.png")

    # MIDI: whole score -> 10 s windows of event tokens -> stitched notes.
    midi_path = out_dir / "performance.mid"
    score.write("midi", fp=str(midi_path))
    codec = midi.MidiEventCodec(max_shift_steps=round(window_seconds * 100))
    notes = midi.read_midi_notes(midi_path)
    windows = midi.encode_performance(notes, codec, window_seconds)
    stitched, _ = midi.decode_performance(windows, codec)
    midi.write_midi_notes(stitched, out_dir / "performance.stitched.mid")
    roundtrip = midi.measure_roundtrip(notes, codec, window_seconds)

    # Audio: FluidSynth with the soundfont that always ships (TimGM6mb).
    waveform = synthesis.synthesize(midi.load_pretty_midi(midi_path))
    audio.write_audio(out_dir / "performance.flac", waveform)

    # One unified vocabulary for all of it (image/audio codes come with the codecs).
    vocab = UnifiedVocabulary()
    rows, cols = prepared.grid_shape
    return PieceReport(
        piece=name,
        lmx_tokens=len(tokens),
        lmx_problems=len(result.problems),
        lmx_pitches_match=pitches_match,
        staff_height_px=round(staves.estimate_staff_height(pixels.from_model_range(prepared.pixels)), 2),
        image_grid=(rows, cols),
        midi_windows=len(windows),
        midi_onset_f1=roundtrip.onset.f1,
        midi_onset_offset_f1=roundtrip.onset_offset.f1,
        audio_seconds=round(len(waveform) / audio.SAMPLE_RATE, 2),
        audio_frames=audio.num_frames(len(waveform)),
        unified_frames={
            "lmx": len(vocab.encode_lmx(tokens)),
            "midi_first_window": len(vocab.encode_midi(windows[0].tokens)),
            "image": rows * cols,
            "audio": audio.num_frames(len(waveform)),
        },
    )


def _in_corpus(music21, name: str) -> bool:
    try:
        return bool(music21.corpus.getWork(name))
    except music21.corpus.CorpusException:
        return False


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="python -m mt_music.quickstart",
        description=__doc__.split("\n\n")[0] + " Writes artefacts per piece and prints a summary table.",
    )
    parser.add_argument("--pieces", nargs="+", default=list(DEFAULT_PIECES),
                        help="music21 corpus names (default: %(default)s)")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/quickstart"),
                        help="output directory (default: %(default)s)")
    parser.add_argument("--window-seconds", type=float, default=10.0, help="MIDI event window length (10 or 20)")
    return parser.parse_args(argv)


def check_window_seconds(seconds: float) -> None:
    """The MIDI codec needs a window of a positive whole number of 10 ms steps."""
    steps = seconds * 100
    if not math.isfinite(seconds) or steps < 1 or abs(steps - round(steps)) > 1e-6:
        raise UserError(f"--window-seconds must be a positive multiple of 0.01 s (e.g. 10 or 20), got {seconds:g}")


def run_pieces(names: list[str], out: pathlib.Path, window_seconds: float) -> tuple[list[PieceReport], dict[str, str]]:
    """Every piece that works, and the reason for each that does not: one bad piece never loses the others."""
    reports, failures = [], {}
    for name in tqdm.tqdm(names, desc="quickstart", unit="piece"):
        try:
            reports.append(run_piece(name, out / name.replace("/", "_"), window_seconds))
        except Exception as error:  # noqa: BLE001 - reported per piece; MT_MUSIC_TRACEBACK=1 shows it
            if os.environ.get(TRACEBACK_VARIABLE):
                raise
            failures[name] = f"{type(error).__name__}: {one_line(error)}"
            tqdm.tqdm.write(f"error: {name}: {failures[name]}", file=sys.stderr)
    return reports, failures


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    check_window_seconds(args.window_seconds)
    import music21

    unknown = [p for p in args.pieces if not _in_corpus(music21, p)]
    if unknown:
        raise UserError(f"--pieces: not in music21's corpus: {', '.join(unknown)} "
                        "(names look like bach/bwv66.6; see music21.corpus.search)")
    check_output_dir(args.out, "--out")
    started = time.time()
    reports, failures = run_pieces(args.pieces, args.out, args.window_seconds)
    header = f"{'piece':<16}{'LMX':>6}{'pitches':>9}{'staff px':>10}{'grid':>9}{'win':>5}{'onset F1':>10}" \
             f"{'on+off F1':>11}{'audio s':>9}"
    print(header)
    for r in reports:
        print(f"{r.piece:<16}{r.lmx_tokens:>6}{'ok' if r.lmx_pitches_match else 'DIFF':>9}{r.staff_height_px:>10.2f}"
              f"{'x'.join(map(str, r.image_grid)):>9}{r.midi_windows:>5}{r.midi_onset_f1:>10.3f}{r.midi_onset_offset_f1:>11.3f}"
              f"{r.audio_seconds:>9.1f}")
    for name, reason in failures.items():
        print(f"{name:<16} FAILED: {reason}")
    summary = {"seconds": round(time.time() - started, 1), "pieces": [dataclasses.asdict(r) for r in reports],
               "failed": failures}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"wrote {args.out}/ ({summary['seconds']} s)")
    if failures:
        print(f"error: {len(failures)} of {len(args.pieces)} pieces failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0 if all(r.lmx_pitches_match and np.isclose(r.midi_onset_f1, 1.0) for r in reports) else 1


def main(argv: list[str] | None = None) -> int:
    """`python -m mt_music.quickstart`; bad settings are one `error:` line, a bad piece is reported and skipped."""
    return main_with_errors(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
