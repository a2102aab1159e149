"""Evaluation metrics on token sequences (pure Python; no TensorFlow, no JAX).

Symbol error rate (SER) is the OMR metric of OLiMPiC and of the paper
(docs/design.md §3.1): corpus-level, i.e. the edit distances of all examples are
summed before dividing by the total number of gold tokens, so long systems
weigh more than short ones (a mean of per-example rates would not).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

TokenSequence = Sequence[Hashable] | str


def levenshtein(gold: Sequence[Hashable], predicted: Sequence[Hashable]) -> int:
    """Edit distance (insertions, deletions, substitutions all cost 1)."""
    gold, predicted = _strip_common_ends(list(gold), list(predicted))
    if len(gold) < len(predicted):
        gold, predicted = predicted, gold
    previous = list(range(len(predicted) + 1))
    for i, gold_token in enumerate(gold, start=1):
        current = [i]
        for j, predicted_token in enumerate(predicted, start=1):
            current.append(min(
                previous[j] + 1,  # deletion
                current[j - 1] + 1,  # insertion
                previous[j - 1] + (gold_token != predicted_token),  # substitution / match
            ))
        previous = current
    return previous[-1]


def _strip_common_ends(a: list, b: list) -> tuple[list, list]:
    """Drops the shared prefix and suffix: they cost nothing, and good predictions
    share most of their tokens, so this makes the quadratic part small."""
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    return a[start:len(a) - end], b[start:len(b) - end]


def symbol_error_rate(
    gold: Sequence[TokenSequence], predicted: Sequence[TokenSequence]
) -> float:
    """Corpus-level SER in percent: sum of edit distances / total gold tokens x 100.

    `gold` and `predicted` are parallel lists of examples; an example is a
    token list or a whitespace-separated string. Raises ValueError when the
    lists differ in length. With no gold tokens at all the rate is 0.0 if
    nothing was predicted either, and infinite otherwise.
    """
    if isinstance(gold, str) or isinstance(predicted, str):
        raise TypeError("pass lists of examples, not a single string")
    if len(gold) != len(predicted):
        raise ValueError(
            f"gold has {len(gold)} examples but predicted has {len(predicted)}; they must pair up"
        )
    errors = total = 0
    for gold_example, predicted_example in zip(gold, predicted):
        gold_tokens, predicted_tokens = _tokens(gold_example), _tokens(predicted_example)
        errors += levenshtein(gold_tokens, predicted_tokens)
        total += len(gold_tokens)
    if total == 0:
        return 0.0 if errors == 0 else math.inf
    return 100.0 * errors / total


def _tokens(example: TokenSequence) -> Sequence[Hashable]:
    return example.split() if isinstance(example, str) else example
