"""Symbol error rate on hand-computed cases."""

import math
import random

import pytest

from mt_music.lmx.metrics import levenshtein, symbol_error_rate


@pytest.mark.parametrize("gold, predicted, distance", [
    ([], [], 0),
    (["a"], [], 1),
    ([], ["a", "b"], 2),
    (["a", "b", "c"], ["a", "b", "c"], 0),
    (["a", "b", "c"], ["a", "x", "c"], 1),  # one substitution
    (["a", "b", "c"], ["a", "c"], 1),  # one deletion
    (["a", "b", "c"], ["a", "b", "b", "c"], 1),  # one insertion
    (["k", "i", "t", "t", "e", "n"], ["s", "i", "t", "t", "i", "n", "g"], 3),
    (["a", "b"], ["b", "a"], 2),  # a transposition costs two
])
def test_levenshtein_hand_computed(gold, predicted, distance):
    assert levenshtein(gold, predicted) == distance
    assert levenshtein(predicted, gold) == distance


def test_levenshtein_matches_a_plain_dynamic_programme():
    def reference(a, b):
        table = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1,
                                  table[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
        return table[-1][-1]

    rng = random.Random(3)
    for _ in range(300):
        a = [rng.choice("abc") for _ in range(rng.randint(0, 9))]
        b = [rng.choice("abc") for _ in range(rng.randint(0, 9))]
        assert levenshtein(a, b) == reference(a, b)


def test_ser_is_corpus_level_not_a_mean_of_rates():
    gold = [["measure", "C4", "quarter", "D4"], ["measure"]]
    predicted = [["measure", "C4", "quarter", "D4"], ["C4"]]
    # 1 edit over 5 gold tokens = 20 %; the mean of per-example rates would be 50 %.
    assert symbol_error_rate(gold, predicted) == pytest.approx(20.0)


def test_ser_hand_computed_mixture():
    gold = [["a", "b", "c", "d"], ["e", "f"], ["g", "h", "i", "j"]]
    predicted = [["a", "x", "c", "d"], [], ["g", "h", "i", "j", "k", "l"]]
    # distances 1 + 2 + 2 = 5 over 10 gold tokens
    assert symbol_error_rate(gold, predicted) == pytest.approx(50.0)


def test_ser_can_exceed_100_percent():
    assert symbol_error_rate([["a"]], [["x", "y", "z"]]) == pytest.approx(300.0)


def test_ser_accepts_whitespace_separated_strings():
    assert symbol_error_rate(["measure C4 quarter"], ["measure D4 quarter"]) == pytest.approx(100 / 3)


def test_ser_perfect_and_empty_cases():
    assert symbol_error_rate([["a", "b"]], [["a", "b"]]) == 0.0
    assert symbol_error_rate([], []) == 0.0
    assert symbol_error_rate([[]], [[]]) == 0.0
    assert symbol_error_rate([[]], [["a"]]) == math.inf


def test_ser_rejects_unpaired_inputs():
    with pytest.raises(ValueError, match="gold has 2 examples but predicted has 1"):
        symbol_error_rate([["a"], ["b"]], [["a"]])
    with pytest.raises(TypeError):
        symbol_error_rate("a b", "a b")
