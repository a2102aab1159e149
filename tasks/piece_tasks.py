"""SeqIO tasks for audio↔MIDI over whole pieces: `mt_music_corpus_small_pieces_audio2midi`, `…_midi2audio`.

Read from baked piece records (`tools/bake_codec_tokens.py --corpus small_pieces`): the train split
gives random windows (10 s: the published AMT setting) — as many per piece and epoch as the piece
has consecutive windows, each drawn from (seed, piece, window) — and the validation / test splits
give the consecutive windows from 0 s with `piece_id`, `window_index` and `window_start` (seconds),
so predictions can be stitched and scored over whole pieces. Windows over the length limits are
counted (`system_tasks.over_limit_counts`) and logged, never cut.
"""

from __future__ import annotations

import functools

import numpy as np
import seqio
import tensorflow as tf
from absl import logging

from mt_music.data import directions, piece_windows, token_records
from mt_music.tasks import postprocessors, system_tasks
from mt_music.tasks.datasets import DatasetSpec
from mt_music.vocabulary import UnifiedVocabulary

DIRECTIONS = tuple(directions.Direction.parse(name) for name in piece_windows.PIECE_DIRECTIONS)


def _examples(dataset: DatasetSpec, direction: directions.Direction, limits: directions.LengthLimits,
              window_seconds: float, split: str, seed: int):
    vocabulary = UnifiedVocabulary()
    windows = piece_windows.PieceWindows(list(token_records.read(dataset.split_pattern(split))), vocabulary,
                                         window_seconds)
    name, over = system_tasks.task_name(dataset, direction), 0
    for piece, record in enumerate(windows.records):
        if not windows.audio_variants(piece):
            continue
        consecutive = windows.consecutive(piece)
        if split == "train":
            chosen = [windows.random(piece, np.random.default_rng([seed, piece, k])) for k in range(len(consecutive))]
        else:
            chosen = consecutive
        for window in chosen:
            sizes = [windows.frame_count(window, direction.source, output=False),
                     windows.frame_count(window, direction.target, output=True)]
            if sizes[0] > limits.of(direction.source) or sizes[1] > limits.of(direction.target):
                over += 1
                continue
            variant = int(np.random.default_rng([seed, piece, window.start_frame, 1]).integers(
                windows.audio_variants(piece)))
            (inputs, inputs_positions), (targets, targets_positions) = [
                windows.frames(window, modality, output=output, audio_variant=variant)
                for modality, output in ((direction.source, False), (direction.target, True))]
            yield {"id": f"{record['id']}@{window.start_frame}", "piece_id": record["id"],
                   "window_index": np.int32(window.index),
                   "window_start": np.float32(window.start_seconds(windows.codec.steps_per_second)),
                   "inputs": inputs, "inputs_positions": inputs_positions, "targets": targets,
                   "targets_positions": targets_positions, "reference_notes": _window_notes(windows, window)}
    system_tasks.over_limit_counts[(name, split)] = over
    if over:
        logging.warning("%s/%s: %d windows over the length limits, not used", name, split, over)


def _window_notes(windows: piece_windows.PieceWindows, window: piece_windows.Window) -> np.ndarray:
    """The pitched notes sounding in the window, seconds from its start, cut to it (as `notes_array`)."""
    steps = windows.codec.steps_per_second
    start, end = window.start_step, window.start_step + windows.steps_per_window
    rows = [((max(n.start_step, start) - start) / steps, (min(n.end_step, end) - start) / steps, n.pitch, n.program)
            for n in windows.grid_notes(window.piece) if not n.is_drum and n.start_step < end and n.end_step > start]
    return np.asarray(rows, np.float32).reshape(-1, 4)


def _dataset_fn(split: str, shuffle_files: bool, seed: int | None = None, *, dataset: DatasetSpec,
                direction: directions.Direction, limits: directions.LengthLimits,
                window_seconds: float) -> tf.data.Dataset:
    del shuffle_files
    spec = {"id": tf.TensorSpec([], tf.string), "piece_id": tf.TensorSpec([], tf.string),
            "window_index": tf.TensorSpec([], tf.int32), "window_start": tf.TensorSpec([], tf.float32),
            "reference_notes": tf.TensorSpec([None, 4], tf.float32),
            **{name: tf.TensorSpec([None, 2 if "positions" in name else None], tf.int32)
               for name in system_tasks.FEATURE_NAMES}}
    generator = functools.partial(_examples, dataset, direction, limits, window_seconds, split, seed or 0)
    return tf.data.Dataset.from_generator(generator, output_signature=spec)


def register(dataset: DatasetSpec, *, limits: directions.LengthLimits = directions.LengthLimits(),
             window_seconds: float = piece_windows.WINDOW_SECONDS) -> list[str]:
    names = []
    for direction in DIRECTIONS:
        name = system_tasks.task_name(dataset, direction)
        seqio.TaskRegistry.remove(name)
        source = seqio.FunctionDataSource(
            functools.partial(_dataset_fn, dataset=dataset, direction=direction, limits=limits,
                              window_seconds=window_seconds), splits=dataset.splits)
        seqio.TaskRegistry.add(
            name, source=source, preprocessors=[],
            output_features=system_tasks.output_features(direction),
            postprocess_fn=postprocessors.for_modality(direction.target), metric_fns=[])
        names.append(name)
    return names
