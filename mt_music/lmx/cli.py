"""The LMX command line: `python -m mt_music.lmx linearize|delinearize …` (see `--help`)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from mt_music.errors import (
    ArgumentParser,
    UserError,
    check_input_file,
    check_output_file,
    check_positive,
    main_with_errors,
)
from mt_music.lmx.delinearize import delinearize
from mt_music.lmx.errors import LmxError
from mt_music.lmx.files import parse_lmx_text, write_lmx_file
from mt_music.lmx.linearize import linearize, read_musicxml
from mt_music.lmx.vocabulary import FLAVORS, flavor_tokens

# Below this share of known tokens the input is not LMX (e.g. a MusicXML file given to delinearize).
MIN_KNOWN_TOKEN_SHARE = 0.5


def _build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m mt_music.lmx",
        description="Convert between MusicXML and LMX (OLiMPiC linearized MusicXML, "
                    "one token per symbol, as used for optical music recognition).",
        epilog="Errors (missing file, unsupported MusicXML) are reported on one line "
               "on stderr with exit status 2.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    to_lmx = commands.add_parser(
        "linearize", help="MusicXML (.musicxml, .xml, .mxl) -> LMX tokens",
        description="Linearize a one-part MusicXML score (1-3 staves) into LMX tokens; "
                    "--pianoform first reduces a score of several parts to one. "
                    "Without -o the tokens are printed space-separated on one line.",
    )
    to_lmx.add_argument("input", help="MusicXML file (.musicxml, .xml or compressed .mxl), "
                                      "or - for MusicXML (text or .mxl bytes) on stdin")
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
    to_lmx.add_argument("--pianoform", action="store_true",
                        help="reduce a score of 2-6 parts (or a keyboard score) to one part of one or "
                             "two staves first, as the corpus does (needs music21)")

    to_xml = commands.add_parser(
        "delinearize", help="LMX tokens -> MusicXML",
        description="Rebuild MusicXML from LMX tokens. Bad token sequences never fail: "
                    "what cannot be placed is dropped and reported on stderr. Input that is "
                    "not LMX at all (e.g. MusicXML) is an error.",
    )
    to_xml.add_argument("input", help=".lmx file (OLiMPiC header optional), or - for "
                                      "tokens on stdin")
    to_xml.add_argument("-o", "--output", help="write the MusicXML here instead of stdout")
    return parser


# ------------------------------------------------------------------------------ linearize
def _read_source(name: str) -> bytes | Path:
    """The MusicXML to read: a checked path, or stdin's bytes (text or a compressed .mxl)."""
    if name != "-":
        return check_input_file(name, "input")
    data = sys.stdin.buffer.read()
    if not data.strip():
        raise UserError("stdin: no MusicXML given; pipe a MusicXML file in or give its path")
    return data


def _as_path(source: bytes | Path, folder: str) -> Path:
    """A file for readers that need one (music21, .mxl archives)."""
    if isinstance(source, Path):
        return source
    path = Path(folder) / ("stdin.mxl" if source[:2] == b"PK" else "stdin.musicxml")
    path.write_bytes(source)
    return path


def _reduced_to_pianoform(path: Path) -> bytes:
    """MusicXML bytes of the score at `path` reduced to one piano-form part (mt_music.lmx.pianoform)."""
    import music21
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    from mt_music.lmx.pianoform import pianoform

    try:
        score = music21.converter.parse(str(path), format="musicxml")
    except Exception as error:  # noqa: BLE001 - music21 raises many kinds of errors on bad files
        raise LmxError(f"{path}: music21 cannot read it ({' '.join(str(error).split())[:200]})") from None
    if isinstance(score, music21.stream.Opus):
        score = score.scores[0]
    reduced = pianoform(score)
    for part in reduced.parts:
        part.makeAccidentals(inPlace=True, overrideStatus=True)  # LMX reads printed accidentals
    return GeneralObjectExporter(reduced).parse()


def _run_linearize(args: argparse.Namespace) -> int:
    if args.system is not None:
        check_positive(args.system, "--system", allow_zero=True)
    if args.output:
        check_output_file(args.output, "-o/--output")
    source = _read_source(args.input)
    origin = "stdin" if args.input == "-" else args.input
    with tempfile.TemporaryDirectory(prefix="mt_music_lmx_") as folder:
        try:
            path = _as_path(source, folder)
            root = read_musicxml(path)
            parts = root.findall("part")
            if args.pianoform and len(parts) != 1:
                root = read_musicxml(_reduced_to_pianoform(path))
            elif len(parts) > 1:
                raise LmxError(f"{origin}: LMX takes one-part scores and this one has {len(parts)} parts; "
                               "add --pianoform to reduce it to one piano-form part (as the corpus does)")
        except LmxError as error:  # name stdin, not the temporary copy of it
            raise LmxError(str(error).replace(str(path), origin)) from None
    problems: list[str] | None = [] if args.lenient else None
    tokens = linearize(root, system=args.system, flavor=args.flavor, problems=problems)
    for problem in problems or []:
        print(f"warning: {problem}", file=sys.stderr)
    if not tokens:
        raise LmxError(f"{origin}: the score has no content to linearize (no measures)")
    if args.output:
        write_lmx_file(args.output, tokens, args.flavor)
    else:
        print(" ".join(tokens))
    return 0


# ---------------------------------------------------------------------------- delinearize
def _check_is_lmx(text: str, tokens: list[str], origin: str) -> None:
    """One clear error for input that is not LMX, instead of thousands of problem lines."""
    if text.lstrip().startswith("<"):
        raise LmxError(f"{origin} is XML (MusicXML?), not LMX tokens; "
                       "to turn MusicXML into LMX use `python -m mt_music.lmx linearize`")
    if not tokens:
        raise LmxError(f"{origin}: no LMX tokens in it")
    known = flavor_tokens("extended")
    share = sum(token in known for token in tokens) / len(tokens)
    if share < MIN_KNOWN_TOKEN_SHARE:
        raise LmxError(f"{origin} does not look like LMX: only {100 * share:.0f} % of its "
                       f"{len(tokens)} tokens are LMX tokens (e.g. {tokens[0][:40]!r}); give an .lmx file")


def _run_delinearize(args: argparse.Namespace) -> int:
    if args.output:
        check_output_file(args.output, "-o/--output")
    if args.input == "-":
        origin = "stdin"
        try:
            text = sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError:
            raise LmxError("stdin is not text (binary data?); pipe LMX tokens in") from None
    else:
        origin = str(check_input_file(args.input, "input"))
        try:
            text = Path(origin).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise LmxError(f"{origin} is not a text file (binary data?); give an .lmx file") from None
    tokens = parse_lmx_text(text, origin=origin)
    _check_is_lmx(text, tokens, origin)
    result = delinearize(tokens)
    for problem in result.problems:
        print(f"problem: {problem}", file=sys.stderr)
    if args.output:
        Path(args.output).write_text(result.musicxml, encoding="utf-8")
    else:
        sys.stdout.write(result.musicxml)
    return 0


def _main(argv: list[str] | None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "linearize":
        return _run_linearize(args)
    return _run_delinearize(args)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m mt_music.lmx`; returns the exit status."""
    return main_with_errors(_main, argv)

