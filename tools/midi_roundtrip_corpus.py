#!/usr/bin/env python
"""Whole-piece MIDI codec round trip over music21's bundled corpus.

Each piece is exported to MIDI with music21, read back with pretty_midi, cut into consecutive
windows, encoded, decoded, stitched, and scored with mir_eval against its own notes on the
10 ms grid. A correct codec scores onset F1 = onset+offset F1 = 1.0 on every piece; pieces
music21 cannot export (bad repeats, absurd durations, collections of tunes) are skipped and
listed. Exit status 0 only when every measured piece is perfect.

    python tools/midi_roundtrip_corpus.py                       # the default mix, 65 pieces
    python tools/midi_roundtrip_corpus.py --piece bach:200 --window-seconds 20
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
from collections.abc import Sequence

from mt_music.errors import ArgumentParser, UserError, check_output_dir, check_positive, main_with_errors
from mt_music.midi.corpus_roundtrip import DEFAULT_PIECES, report, run_corpus, select_pieces


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--piece", action="append", metavar="COMPOSER[:COUNT]",
                        help="corpus composer and how many of its scores (repeatable; default: "
                             + " ".join(DEFAULT_PIECES) + ")")
    parser.add_argument("--window-seconds", type=float, default=10.0, help="window length (default 10)")
    parser.add_argument("--max-shift-steps", type=int, default=None,
                        help="codec shift range (default: window length in 10 ms steps)")
    parser.add_argument("--export-dir", type=pathlib.Path, default=None,
                        help="keep exported MIDI here and reuse it next time (default: a temporary folder)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return main_with_errors(_main, argv)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    check_positive(args.window_seconds, "--window-seconds")
    if args.max_shift_steps is not None:
        check_positive(args.max_shift_steps, "--max-shift-steps")
    if args.export_dir is not None:
        check_output_dir(args.export_dir, "--export-dir")
    try:
        pieces = select_pieces(args.piece or DEFAULT_PIECES)
    except ValueError as error:
        raise UserError(f"--piece: {error}") from None
    if not pieces:
        raise UserError("--piece selects no piece of music21's corpus; nothing to measure")
    with tempfile.TemporaryDirectory(prefix="midi_corpus_") as scratch:
        export_dir = args.export_dir or pathlib.Path(scratch)
        try:
            results = run_corpus(pieces, export_dir, window_seconds=args.window_seconds,
                                 max_shift_steps=args.max_shift_steps, progress=not args.no_progress)
        except ValueError as error:  # e.g. a window the codec's shift range cannot cover
            raise UserError(str(error)) from None
    print(report(results))
    measured = [r for r in results if r.error is None]
    if not measured:
        raise UserError(f"none of the {len(results)} pieces could be measured (listed above)")
    return 0 if all(r.perfect for r in measured) else 1


if __name__ == "__main__":
    raise SystemExit(main())
