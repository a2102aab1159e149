"""LMX (OLiMPiC linearized MusicXML, docs/design.md §3.1): the public face.

    from mt_music.lmx import linearize, delinearize, LMX_TOKENS, read_lmx_file
    tokens = linearize("score.musicxml", system=0)
    result = delinearize(tokens)  # result.musicxml, result.problems

Command line (run `python -m mt_music.lmx --help`):

    python -m mt_music.lmx linearize score.mxl --system 2 --flavor extended
    python -m mt_music.lmx delinearize system.lmx -o system.musicxml

Modules: `linearize`, `delinearize`, `vocabulary` (the 224 tokens), `errors` (LmxError),
`files` (.lmx files), `metrics` (symbol error rate), `conformance` (corpus round trips),
`cli` (the command line).
"""

from mt_music.lmx.delinearize import DelinearizeResult, delinearize
from mt_music.lmx.errors import LmxError
from mt_music.lmx.files import format_lmx_file, parse_lmx_text, read_lmx_file, write_lmx_file
from mt_music.lmx.linearize import count_systems, linearize, linearize_systems
from mt_music.lmx.vocabulary import CORE_TOKENS, EXTENDED_TOKENS, FLAVORS, LMX_TOKENS

__all__ = [
    "CORE_TOKENS",
    "EXTENDED_TOKENS",
    "FLAVORS",
    "LMX_TOKENS",
    "DelinearizeResult",
    "LmxError",
    "count_systems",
    "delinearize",
    "format_lmx_file",
    "linearize",
    "linearize_systems",
    "parse_lmx_text",
    "read_lmx_file",
    "write_lmx_file",
]
