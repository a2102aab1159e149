"""LMX (OLiMPiC linearized MusicXML): the public face and the command line.

    from mt_music.lmx import linearize, delinearize, LMX_TOKENS, read_lmx_file
    tokens = linearize("score.musicxml", system=0)
    result = delinearize(tokens)  # result.musicxml, result.problems

Command line (run `python -m mt_music.lmx --help`):

    python -m mt_music.lmx linearize score.mxl --system 2 --flavor extended
    python -m mt_music.lmx delinearize system.lmx -o system.musicxml

Implementation: mt_music.lmx_linearize, mt_music.lmx_delinearize,
mt_music.lmx_vocabulary (the 224 tokens), mt_music.lmx_errors (LmxError).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mt_music.lmx_delinearize import DelinearizeResult, delinearize
from mt_music.lmx_errors import LmxError
from mt_music.lmx_linearize import count_systems, linearize, linearize_systems
from mt_music.lmx_vocabulary import CORE_TOKENS, EXTENDED_TOKENS, FLAVORS, LMX_TOKENS

__all__ = [
    "CORE_TOKENS",
    "EXTENDED_TOKENS",
    "LMX_TOKENS",
    "DelinearizeResult",
    "LmxError",
    "count_systems",
    "delinearize",
    "linearize",
    "linearize_systems",
    "read_lmx_file",
    "write_lmx_file",
]

LMX_FILE_VERSION = "1.0"
_HEADER_SEPARATOR = "---"


# --------------------------------------------------------------------------
# .lmx files
# --------------------------------------------------------------------------

def read_lmx_file(path: str | os.PathLike[str]) -> list[str]:
    """Tokens of an .lmx file (OLiMPiC layout), header and `#` comments removed.

    The layout is an optional header of `key: value` lines (`version`,
    `flavor`) ended by a `---` line, then whitespace-separated tokens. Further
    `---` lines separate systems; their tokens are concatenated, which is
    still a valid sequence because each system re-states its clefs and key.
    A file without `---` is all tokens.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise LmxError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    return parse_lmx_text(text, origin=str(path))


def parse_lmx_text(text: str, origin: str = "LMX text") -> list[str]:
    """Tokens of the contents of an .lmx file (see `read_lmx_file`)."""
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    if _HEADER_SEPARATOR in lines:
        end = lines.index(_HEADER_SEPARATOR)
        _check_header(lines[:end], origin)
        lines = lines[end + 1:]
    return [token for line in lines if line != _HEADER_SEPARATOR for token in line.split()]


def _check_header(lines: list[str], origin: str) -> None:
    for line in filter(None, lines):
        field, separator, value = line.partition(":")
        if not separator:
            raise LmxError(f"{origin}: malformed header line {line!r} (expected 'key: value')")
        field, value = field.strip(), value.strip()
        if field == "version" and value != LMX_FILE_VERSION:
            raise LmxError(f"{origin}: unsupported LMX file version {value!r}")
        if field == "flavor" and value not in FLAVORS:
            raise LmxError(f"{origin}: unknown flavor {value!r}")


def format_lmx_file(tokens: list[str], flavor: str = "core") -> str:
    """The text of an .lmx file: header, then the tokens on one line."""
    return (f"version: {LMX_FILE_VERSION}\nflavor: {flavor}\n{_HEADER_SEPARATOR}\n"
            + " ".join(tokens) + "\n")


def write_lmx_file(path: str | os.PathLike[str], tokens: list[str], flavor: str = "core") -> None:
    """Writes tokens as an .lmx file that `read_lmx_file` (and OLiMPiC) can read."""
    Path(path).write_text(format_lmx_file(tokens, flavor), encoding="utf-8")


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------

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


if __name__ == "__main__":
    sys.exit(main())
