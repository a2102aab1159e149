"""The evaluation metric library (mt_music.evaluation) on hand-computed cases."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mt_music.evaluation import (
    Embedding,
    LogMelEmbedding,
    aligned_note_scores,
    frechet_audio_distance,
    frechet_distance,
    lmx_metrics,
    lmx_scores,
    note_scores,
    piece_scores,
    random_pairing_emd,
    token_histogram_emd,
)
from mt_music.midi.notes import Note


# ------------------------------------------------------------------------------------------ LMX
def test_ser_is_corpus_level_over_reference_tokens():
    references = ["measure clef:G2 C4 quarter D4 quarter", "measure G4 half dot"]  # 6 + 4 tokens
    predictions = ["measure clef:G2 C4 quarter E4 quarter", "measure G4 half"]  # 1 substitution, 1 deletion
    scores = lmx_scores(references, predictions)
    assert scores["ser"] == pytest.approx(0.2)
    # A mean of per-example rates would give (1/6 + 1/4) / 2 ≈ 0.208.
    assert scores["valid_musicxml"] == 1.0 and scores["repaired_problems"] == 0.0 and scores["repair_free"] == 1.0


def test_ser_without_tuplets_drops_bracket_tokens_on_both_sides():
    reference = "measure C4 eighth 3in2 tuplet:start D4 eighth 3in2 E4 eighth 3in2 tuplet:stop"  # 12 tokens
    prediction = "measure C4 eighth 3in2 D4 eighth 3in2 F4 eighth 3in2"  # no brackets, E4 -> F4
    scores = lmx_scores([reference], [prediction])
    assert scores["ser"] == pytest.approx(3 / 12)
    assert scores["ser_no_tuplets"] == pytest.approx(1 / 10)  # the ratio tokens 3in2 stay


def test_repaired_problems_and_validity_count_delinearizer_outcomes(monkeypatch):
    predictions = ["measure C4 quarter bogus", "C4 quarter measure D4 quarter", "measure D4 quarter"]
    scores = lmx_scores(["measure C4 quarter"] * 3, predictions)
    assert scores["repaired_problems"] == 2.0  # one unknown token, one note before the first measure
    assert scores["valid_musicxml"] == 1.0 and scores["repair_free"] == pytest.approx(1 / 3)

    real = lmx_metrics.delinearize

    def crash_on_bogus(tokens):
        if "bogus" in tokens:
            raise RuntimeError("boom")
        return real(tokens)

    monkeypatch.setattr(lmx_metrics, "delinearize", crash_on_bogus)
    assert lmx_scores(["measure C4 quarter"] * 3, predictions)["valid_musicxml"] == pytest.approx(2 / 3)


# ---------------------------------------------------------------------------------------- notes
REFERENCE = [Note(0.5 * i, 0.5 * i + 0.4, pitch) for i, pitch in enumerate((60, 62, 64, 65, 67, 69, 71, 72))]


def _shifted(notes: list[Note], seconds: float) -> list[Note]:
    return [dataclasses.replace(n, start=n.start + seconds, end=n.end + seconds) for n in notes]


@pytest.mark.parametrize("shift, expected", [(0.03, (1, 1, 1)), (0.08, (0, 1, 1)), (0.15, (0, 0, 1))])
def test_onset_tolerance_sweep(shift, expected):
    scores = note_scores(REFERENCE, _shifted(REFERENCE, shift))
    assert (scores["onset_f1@50ms"], scores["onset_f1@100ms"], scores["onset_f1@200ms"]) == expected
    assert scores["onset_f1"] == scores["onset_f1@50ms"]


def test_precision_recall_and_offsets():
    wrong_pitch = [dataclasses.replace(n, pitch=n.pitch + 1) for n in REFERENCE]
    scores = note_scores(REFERENCE, REFERENCE + wrong_pitch)
    assert (scores["onset_precision"], scores["onset_recall"]) == (0.5, 1.0)
    assert scores["onset_f1"] == pytest.approx(2 / 3)
    # 30 ms late offsets pass max(50 ms, 20 % of 0.4 s); offsets 0.1 s late fail it.
    assert note_scores(REFERENCE, _shifted(REFERENCE, 0.03))["onset_offset_f1"] == 1.0
    longer = [dataclasses.replace(n, end=n.end + 0.1) for n in REFERENCE]
    assert note_scores(REFERENCE, longer) == pytest.approx(
        {**note_scores(REFERENCE, REFERENCE), "onset_offset_f1": 0.0})


def test_piece_scores_average_pieces_not_notes():
    short_ref = REFERENCE[:4]
    half_right = short_ref[:2] + [dataclasses.replace(n, pitch=n.pitch + 1) for n in short_ref[2:]]  # F1 0.5
    scores = piece_scores({"long": (REFERENCE, REFERENCE), "short": (short_ref, half_right)})
    assert scores["pieces"] == 2.0
    assert scores["onset_f1"] == pytest.approx(0.75)  # pooled counts would give 10 / 12 ≈ 0.83
    assert scores["onset_precision"] == pytest.approx(0.75)


# ------------------------------------------------------------------------------------ alignment
def _melody(seed: int = 0) -> list[Note]:
    rng = np.random.default_rng(seed)
    notes, time = [], 0.0
    for _ in range(20):
        length = float(rng.choice([0.15, 0.25, 0.4]))
        for pitch in rng.choice(np.arange(55, 80), size=rng.integers(1, 3), replace=False):
            notes.append(Note(time, time + length, int(pitch)))
        time += length
    return notes


def _warped(notes: list[Note], warp) -> list[Note]:
    return [dataclasses.replace(n, start=warp(n.start), end=warp(n.end)) for n in notes]


@pytest.mark.parametrize("warp", [lambda t: 1.3 * t, lambda t: t + 0.08 * t * t,
                                  lambda t: t if t < 2 else 2 + 1.6 * (t - 2), lambda t: 0.5 + 1.2 * t],
                         ids=["x1.3", "accelerating", "slower-after-2s", "late-start"])
def test_dtw_undoes_tempo_changes(warp):
    reference = _melody()
    estimate = _warped(reference, warp)
    assert note_scores(reference, estimate)["onset_f1"] < 0.5
    aligned = aligned_note_scores(reference, estimate)
    assert aligned["dtw_onset_f1"] == 1.0 and aligned["dtw_onset_offset_f1"] == 1.0


def test_dtw_keeps_unrelated_estimates_low():
    reference = _melody(0)
    rng = np.random.default_rng(1)
    starts = np.sort(rng.uniform(0, 6, 40))
    unrelated = [Note(float(s), float(s) + 0.2, int(p)) for s, p in zip(starts, rng.integers(40, 90, 40))]
    assert aligned_note_scores(reference, unrelated)["dtw_onset_f1"] < 0.3
    assert aligned_note_scores(reference, reference)["dtw_onset_f1"] == 1.0


# ----------------------------------------------------------------------------------- histograms
def test_token_histogram_emd_on_known_histograms():
    references = ["measure C4 quarter E4 quarter", "measure G4 quarter"]
    predictions = ["measure D4 quarter F4 quarter",  # every pitch one diatonic step up; durations equal
                   "measure G4 eighth G4 whole"]  # quarter vs ½ eighth + ½ whole: ½·1 + ½·2
    assert token_histogram_emd(references, predictions) == pytest.approx({"pitch_emd": 0.5, "duration_emd": 0.75})
    assert token_histogram_emd(references, references) == {"pitch_emd": 0.0, "duration_emd": 0.0}


def test_emd_of_an_empty_prediction_is_the_axis_span():
    assert token_histogram_emd(["measure C4 quarter"], ["measure"]) == {"pitch_emd": 69.0, "duration_emd": 13.0}


def test_random_pairing_is_a_derangement():
    references = ["measure C4 quarter", "measure D4 quarter", "measure E4 quarter"]
    for seed in range(5):  # either 3-cycle pairs C-D, D-E, E-C: 1, 1, 2 steps
        assert random_pairing_emd(references, seed) == pytest.approx({"pitch_emd": 4 / 3, "duration_emd": 0.0})


# ------------------------------------------------------------------------------------------ FAD
def test_frechet_distance_matches_closed_forms():
    assert frechet_distance(np.array([0.0]), np.array([[1.0]]), np.array([1.0]), np.array([[4.0]])) == (
        pytest.approx(2.0))  # (0-1)² + (1 - 2)²
    diagonal = frechet_distance(np.zeros(2), np.diag([1.0, 4.0]), np.array([1.0, 2.0]), np.diag([4.0, 9.0]))
    assert diagonal == pytest.approx(5 + 1 + 1)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 6, 6))
    cov1, cov2 = a @ a.T, b @ b.T
    root1 = _psd_sqrt(cov1)  # Tr sqrt(S1 S2) = Tr sqrt(S1^½ S2 S1^½), the symmetric form
    symmetric = np.trace(cov1) + np.trace(cov2) - 2 * np.sum(np.sqrt(np.linalg.eigvalsh(root1 @ cov2 @ root1)))
    assert frechet_distance(np.zeros(6), cov1, np.zeros(6), cov2) == pytest.approx(symmetric)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def _tones(frequencies, seconds: float = 1.5, sample_rate: int = 44100) -> list[np.ndarray]:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return [sum(0.3 / k * np.sin(2 * np.pi * f * k * t) * np.exp(-2 * t) for k in range(1, 6)) for f in frequencies]


def test_fad_is_zero_on_itself_and_grows_with_noise():
    reference = _tones((220.0, 262.0, 330.0, 392.0))
    embedding = LogMelEmbedding()
    assert isinstance(embedding, Embedding) and embedding.name == "logmel128"
    frames = np.concatenate([embedding.embed(w) for w in reference])
    scale = 2 * np.trace(np.cov(frames, rowvar=False))
    assert abs(frechet_audio_distance(reference, reference)["fad_logmel128"]) < 1e-6 * scale

    rng = np.random.default_rng(0)
    noisy = [frechet_audio_distance(reference, [w + level * rng.standard_normal(len(w)) for w in reference],
                                    embedding)["fad_logmel128"]
             for level in (0.001, 0.01, 0.1)]
    assert 0 < noisy[0] < noisy[1] < noisy[2]
