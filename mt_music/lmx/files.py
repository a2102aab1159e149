""".lmx files (the OLiMPiC layout): an optional `key: value` header ended by `---`, then tokens."""

from __future__ import annotations

import os
from pathlib import Path

from mt_music.lmx.errors import LmxError
from mt_music.lmx.vocabulary import FLAVORS

LMX_FILE_VERSION = "1.0"
_HEADER_SEPARATOR = "---"


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
