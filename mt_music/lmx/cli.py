"""The LMX command line: `python -m mt_music.lmx linearize|delinearize …` (see `--help`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mt_music.lmx.delinearize import delinearize
from mt_music.lmx.errors import LmxError
from mt_music.lmx.files import parse_lmx_text, read_lmx_file, write_lmx_file
from mt_music.lmx.linearize import linearize
from mt_music.lmx.vocabulary import FLAVORS


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mt_music.lmx",
        description="Convert between MusicXML and LMX (OLiMPiC linearized MusicXML, "
                    "one token per symbol, as used for optical music recognition).",
        epilog="Errors (missing file, unsupported MusicXML) are reported on one line "
               "on stderr with exit status 1.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    to_lmx = commands.add_parser(
        "linearize", help="MusicXML (.musicxml, .xml, .mxl) -> LMX tokens",
        description="Linearize a one-part MusicXML score (1-3 staves) into LMX tokens. "
                    "Without -o the tokens are printed space-separated on one line.",
    )
    to_lmx.add_argument("input", help="MusicXML file (.musicxml, .xml or compressed .mxl), "
                                      "or - for MusicXML text on stdin")
    to_lmx.add_argument("-o", "--output", help="write an .lmx file (with header) here")
    to_lmx.add_argument("--system", type=int, metavar="N",
                        help="only system N (0-based; systems start at new-system/new-page "
                             "breaks, clef and key are re-stated); default: the whole part")
    to_lmx.add_argument("--flavor", choices=FLAVORS, default="core",
                        help="core (default) or extended (adds slurs, fermatas, "
                             "articulations, tremolos, trills)")
    to_lmx.add_argument("--lenient", action="store_true",
                        help="drop values outside the LMX vocabulary (reported on stderr) "
                             "instead of failing")

    to_xml = commands.add_parser(
        "delinearize", help="LMX tokens -> MusicXML",
        description="Rebuild MusicXML from LMX tokens. Bad token sequences never fail: "
                    "what cannot be placed is dropped and reported on stderr.",
    )
    to_xml.add_argument("input", help=".lmx file (OLiMPiC header optional), or - for "
                                      "tokens on stdin")
    to_xml.add_argument("-o", "--output", help="write the MusicXML here instead of stdout")
    return parser


def _run_linearize(args: argparse.Namespace) -> int:
    source = sys.stdin.read() if args.input == "-" else args.input
    problems: list[str] | None = [] if args.lenient else None
    tokens = linearize(source, system=args.system, flavor=args.flavor, problems=problems)
    for problem in problems or []:
        print(f"warning: {problem}", file=sys.stderr)
    if args.output:
        write_lmx_file(args.output, tokens, args.flavor)
    else:
        print(" ".join(tokens))
    return 0


def _run_delinearize(args: argparse.Namespace) -> int:
    if args.input == "-":
        tokens = parse_lmx_text(sys.stdin.read(), origin="stdin")
    else:
        tokens = read_lmx_file(args.input)
    result = delinearize(tokens)
    for problem in result.problems:
        print(f"problem: {problem}", file=sys.stderr)
    if args.output:
        Path(args.output).write_text(result.musicxml, encoding="utf-8")
    else:
        sys.stdout.write(result.musicxml)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m mt_music.lmx`; returns the exit status."""
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "linearize":
            return _run_linearize(args)
        return _run_delinearize(args)
    except LmxError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # e.g. the output directory does not exist
        print(f"error: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
        return 1

