"""LMX outputs (OMR, audio→LMX, MIDI→LMX): symbol error rate and whether the output is a score.

SER is corpus-level as OLiMPiC computes it (summed edit distances / summed reference tokens; see
`mt_music.lmx.metrics`), here as a fraction rather than a percentage. `ser_no_tuplets` drops the
`tuplet:start` / `tuplet:stop` bracket tokens from both sides first: they only draw the bracket
(the time-modification ratio such as `3in2`, which sets the durations, stays), and engravings
disagree on where brackets are printed. The delinearizer never raises on model output; it repairs
and reports, so its problem count says how far a prediction is from well-formed LMX.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mt_music.lmx.delinearize import delinearize
from mt_music.lmx.metrics import symbol_error_rate
from mt_music.lmx.vocabulary import TUPLET_TOKENS

_TUPLET_TOKEN_SET = frozenset(TUPLET_TOKENS)
# delinearize() catches its own exceptions and reports them with this prefix (output then empty).
_INTERNAL_ERROR_PREFIX = "internal error"


def lmx_scores(references: Sequence[str], predictions: Sequence[str]) -> dict[str, float]:
    """Corpus SER (with and without tuplet tokens) and delinearizability of whitespace-separated LMX.

    "valid_musicxml": share of predictions whose delinearization raised nothing (nor fell back to its
    internal-error output) and parses as XML; "repair_free": share with no repair at all;
    "repaired_problems": total number of problems the delinearizer repaired over all predictions.
    """
    references, predictions = list(references), list(predictions)
    ser = symbol_error_rate(references, predictions) / 100.0  # also checks that the lists pair up
    ser_no_tuplets = symbol_error_rate([_without_tuplets(r) for r in references],
                                       [_without_tuplets(p) for p in predictions]) / 100.0
    outcomes = [_delinearize_outcome(prediction) for prediction in predictions]
    return {
        "ser": ser,
        "ser_no_tuplets": ser_no_tuplets,
        "valid_musicxml": _share(valid for valid, _ in outcomes),
        "repair_free": _share(valid and problems == 0 for valid, problems in outcomes),
        "repaired_problems": float(sum(problems for _, problems in outcomes)),
    }


def _without_tuplets(lmx: str) -> list[str]:
    return [token for token in lmx.split() if token not in _TUPLET_TOKEN_SET]


def _delinearize_outcome(lmx: str) -> tuple[bool, int]:
    """(valid MusicXML, number of repaired problems) for one prediction."""
    try:
        result = delinearize(lmx)
        result.element_tree()  # parses the MusicXML text
    except Exception:  # noqa: BLE001 - any failure means "not a score", which is what is measured
        return False, 0
    crashed = any(problem.startswith(_INTERNAL_ERROR_PREFIX) for problem in result.problems)
    return not crashed, len(result.problems)


def _share(flags) -> float:
    flags = list(flags)
    return sum(flags) / len(flags) if flags else math.nan
