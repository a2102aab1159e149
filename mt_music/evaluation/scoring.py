"""One task's score: postprocessed targets and predictions → the metrics of its output modality.

    lmx    `lmx_scores` (corpus SER, SER without tuplets, valid MusicXML, repairs)
    midi   `piece_scores`: notes grouped by piece (a piece task's windows carry `piece_id` and their
           start time, so a piece's windows are decoded in order with one decoder, ties across window
           edges continued; a system is its own piece), per-piece
           onset F1 and onset+offset F1, then the mean over pieces
    image, audio  code-level agreement with the target (`code_accuracy`: share of the target's code
           frames predicted exactly, position by position; `length_ratio`: predicted / target
           frames). The perceptual metrics (codec decode → ink, transcription, FAD) need the codecs and
           the transcriber and are added by the evaluation entry point where they are available.
    peers  `peer_scores`: a peer transcriber's notes of each window (piece time) joined per piece —
           each window's notes up to the next window's start — and scored against the same stitched
           reference as the model (`peer_<name>_onset_f1`, …).
Keys are prefixed with the direction (`image2lmx/ser`), as the published tables group them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mt_music.evaluation.lmx_metrics import lmx_scores
from mt_music.evaluation.note_metrics import piece_scores
from mt_music.midi.codec import EOS_ID
from mt_music.midi.windows import EncodedWindow, decode_performance
from mt_music.vocabulary import Modality, UnifiedVocabulary


def score_task(direction: str, target_modality: Modality, targets: Sequence[Mapping],
               predictions: Sequence[Mapping], example_ids: Sequence[str],
               vocabulary: UnifiedVocabulary | None = None) -> dict[str, float]:
    if target_modality is Modality.LMX:
        scores = lmx_scores([t["lmx"] for t in targets], [p["lmx"] for p in predictions])
    elif target_modality is Modality.MIDI:
        scores = piece_scores(_stitched_pieces(targets, predictions, example_ids, vocabulary or UnifiedVocabulary()))
    else:
        scores = _code_scores(targets, predictions, "grids" if target_modality is Modality.IMAGE else "codes")
    scores["examples"] = float(len(targets))
    scores["repaired_ids"] = float(sum(p.get("repaired", 0) for p in predictions))
    return {f"{direction}/{name}": float(value) for name, value in scores.items()}


def peer_scores(direction: str, targets: Sequence[Mapping], peer_notes: Mapping[str, Sequence[Sequence]],
                example_ids: Sequence[str], vocabulary: UnifiedVocabulary | None = None) -> dict[str, float]:
    """Per peer, the piece scores of its window notes (one list per target, in piece time)."""
    vocabulary = vocabulary or UnifiedVocabulary()
    references = {piece: pair[0] for piece, pair in
                  _stitched_pieces(targets, targets, example_ids, vocabulary).items()}
    scores = {}
    for name, notes in peer_notes.items():
        if len(notes) != len(targets):
            continue  # a peer that did not hear every window is not comparable
        estimates: dict[str, list[tuple[float, list]]] = {}
        for target, window_notes, example_id in zip(targets, notes, example_ids):
            piece = target.get("piece_id") or example_id
            estimates.setdefault(piece, []).append((float(target.get("window_start", 0.0)), list(window_notes)))
        pairs = {piece: (references[piece], _joined(windows)) for piece, windows in estimates.items()}
        scores.update({f"{direction}/peer_{name}_{key}": value for key, value in piece_scores(pairs).items()
                       if key != "pieces"})
    return scores


def _joined(windows: list[tuple[float, list]]) -> list:
    """Notes of consecutive windows, each window's up to the next one's start (no double onsets)."""
    windows = sorted(windows, key=lambda window: window[0])
    ends = [start for start, _ in windows[1:]] + [float("inf")]
    return [note for (_, notes), end in zip(windows, ends) for note in notes if note.start < end]


def _stitched_pieces(targets, predictions, example_ids, vocabulary: UnifiedVocabulary) -> dict[str, tuple[list, list]]:
    """piece → (reference notes, estimated notes). Windows of one piece (`piece_id`, `window_start`) are
    decoded in time order with one decoder (`midi.windows.decode_performance`), so a note tied across
    a window edge stays one note; a system is its own piece."""
    pieces: dict[str, list[tuple[Mapping, Mapping]]] = {}
    for target, prediction, example_id in zip(targets, predictions, example_ids):
        pieces.setdefault(target.get("piece_id") or example_id, []).append((target, prediction))
    codec = vocabulary.config.midi_codec
    stitched = {}
    for piece, pairs in pieces.items():
        if len(pairs) == 1 and not pairs[0][0].get("piece_id"):
            stitched[piece] = (list(pairs[0][0]["notes"]), list(pairs[0][1]["notes"]))
            continue
        stitched[piece] = tuple(_decode_windows([pair[side] for pair in pairs], codec) for side in (0, 1))
    return stitched


def _decode_windows(outputs: Sequence[Mapping], codec) -> list:
    """Notes of consecutive windows (each with `midi_ids` and `window_start`), stitched."""
    longest = codec.max_shift_steps / codec.steps_per_second  # a window ends at the next one's start at the latest
    windows = [EncodedWindow(float(o["window_start"]), float(o["window_start"]) + longest, [*o["midi_ids"], EOS_ID])
               for o in outputs]
    return decode_performance(windows, codec)[0]


def _frames(output: Mapping, key: str) -> np.ndarray:
    if key == "codes":
        return np.asarray(output["codes"]).reshape(-1, np.asarray(output["codes"]).shape[-1] or 1)
    grids = [np.asarray(g) for g in output["grids"]]
    if not grids:
        return np.zeros((0, 1), np.int64)
    return np.concatenate([g.transpose(1, 0, 2).reshape(-1, g.shape[-1]) for g in grids])  # column-major


def _code_scores(targets, predictions, key: str) -> dict[str, float]:
    matched = total = predicted = 0
    for target, prediction in zip(targets, predictions):
        reference, estimate = _frames(target, key), _frames(prediction, key)
        common = min(len(reference), len(estimate))
        if common and reference.shape[1] == estimate.shape[1]:
            matched += int(np.all(reference[:common] == estimate[:common], axis=1).sum())
        total, predicted = total + len(reference), predicted + len(estimate)
    return {"code_accuracy": matched / total if total else 0.0, "length_ratio": predicted / total if total else 0.0}
