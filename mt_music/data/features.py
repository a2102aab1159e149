"""The feature converter for K-slot translation examples: (source, target) frames → the model's batch row.

SeqIO's stock encoder–decoder converter takes rank-1 features only; ours are [T, K] frames with
[T, 2] (x, y) positions, so rows are converted here, unpacked, for every data path (the SeqIO
tasks, the TF-free materialized records, the synthetic task). One row:

    encoder_input_tokens   int32 [Le, K]   source frames, zero-padded
    encoder_positions      int32 [Le, 2]
    encoder_modality       int32 []        source Modality
    decoder_target_tokens  int32 [Ld, K]   target frames (ending in the target's EOS), zero-padded
    decoder_input_tokens   int32 [Ld, K]   the targets shifted right by one frame, the target's SOS first
    decoder_positions      int32 [Ld, 2]   the position of the frame each input frame predicts;
                                           for images the SOS sits at (0, 0) and each later input at
                                           the position of the frame it was (teacher forcing)
    decoder_modality       int32 []        target Modality
    decoder_loss_weights   float32 [Ld, K] 1 on real target ids; for 1-D targets (LMX, MIDI) only
                                           slot 0, whose other slots hold no prediction
    task_id                int32 []        index of the task in its mixture (per-task metrics)

This module is TensorFlow-free (the accelerator hosts read it too).
"""

from __future__ import annotations

import numpy as np

from mt_music.vocabulary import Modality, UnifiedVocabulary

FEATURES = ("encoder_input_tokens", "encoder_positions", "encoder_modality", "decoder_input_tokens",
            "decoder_target_tokens", "decoder_positions", "decoder_modality", "decoder_loss_weights", "task_id")


def line_positions(length: int) -> np.ndarray:
    """(t, 0) positions for 1-D and audio sequences."""
    positions = np.zeros((length, 2), np.int32)
    positions[:, 0] = np.arange(length)
    return positions


def convert(vocabulary: UnifiedVocabulary, *, source: np.ndarray, source_positions: np.ndarray,
            source_modality: Modality, target: np.ndarray, target_positions: np.ndarray,
            target_modality: Modality, encoder_length: int, decoder_length: int,
            task_id: int = 0) -> dict[str, np.ndarray]:
    """One padded row (see the module docstring). Lengths must already fit: ValueError otherwise,
    since cutting a sequence silently would train the model on a wrong translation."""
    if len(source) > encoder_length or len(target) > decoder_length:
        raise ValueError(f"example of {len(source)} source / {len(target)} target frames does not fit "
                         f"{encoder_length} / {decoder_length}; filter by length first")
    k = vocabulary.num_slots
    row = {
        "encoder_input_tokens": np.zeros((encoder_length, k), np.int32),
        "encoder_positions": np.zeros((encoder_length, 2), np.int32),
        "encoder_modality": np.int32(source_modality),
        "decoder_input_tokens": np.zeros((decoder_length, k), np.int32),
        "decoder_target_tokens": np.zeros((decoder_length, k), np.int32),
        "decoder_positions": np.zeros((decoder_length, 2), np.int32),
        "decoder_modality": np.int32(target_modality),
        "decoder_loss_weights": np.zeros((decoder_length, k), np.float32),
        "task_id": np.int32(task_id),
    }
    row["encoder_input_tokens"][: len(source)] = source
    row["encoder_positions"][: len(source)] = source_positions
    row["decoder_target_tokens"][: len(target)] = target
    if len(target):
        row["decoder_input_tokens"][: len(target)] = np.concatenate(
            [vocabulary.sos_frame(target_modality)[None], target[:-1]])
    if target_modality is Modality.IMAGE:  # SOS at (0, 0), then the positions of the frames it feeds
        row["decoder_positions"][1: len(target)] = target_positions[: max(len(target) - 1, 0)]
    else:
        row["decoder_positions"][: len(target)] = line_positions(len(target))
    weights = (row["decoder_target_tokens"] != 0).astype(np.float32)
    if not target_modality.is_rvq:
        weights[:, 1:] = 0.0
    row["decoder_loss_weights"] = weights
    return row
