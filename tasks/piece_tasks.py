"""SeqIO tasks for audio↔MIDI over whole pieces: `mt_music_corpus_small_pieces_audio2midi`, `…_midi2audio`.

Read from baked piece records (`tools/bake_codec_tokens.py --corpus small_pieces`): the train split
gives random windows (10 s: the published AMT setting) — as many per piece and epoch as the piece
has consecutive windows, each drawn from (seed, piece, window) — and the validation / test splits
give the consecutive windows from 0 s with `piece_id`, `window_index` and `window_start` (seconds),
so predictions can be stitched and scored over whole pieces, and `window_audio`: the window's
waveform as the corpus holds it (44.1 kHz, the baked variant's sample shift applied), which the
peer transcribers of the evaluation read (empty when the corpus store is not built here). Windows
over the length limits are counted (`system_tasks.over_limit_counts`) and logged, never cut.
"""

from __future__ import annotations

import functools

import numpy as np
import seqio
import tensorflow as tf
from absl import logging

from mt_music.audio.io import HOP_LENGTH
from mt_music.data import directions, piece_windows, token_records
from mt_music.data.token_bake import shift_audio
from mt_music.tasks import postprocessors, system_tasks
from mt_music.tasks.datasets import DatasetSpec
from mt_music.vocabulary import Modality, UnifiedVocabulary

DIRECTIONS = tuple(directions.Direction.parse(name) for name in piece_windows.PIECE_DIRECTIONS)


def _examples(dataset: DatasetSpec, direction: directions.Direction, limits: directions.LengthLimits,
              window_seconds: float, split: str, seed: int):
    vocabulary = UnifiedVocabulary()
    windows = piece_windows.PieceWindows(list(token_records.read(dataset.split_pattern(split))), vocabulary,
                                         window_seconds)
    name, over = system_tasks.task_name(dataset, direction), 0
    corpus_audio = _corpus_audio(dataset, split) if _has_window_audio(direction, split) else None
    for piece, record in enumerate(windows.records):
        if not windows.audio_variants(piece):
            continue
        consecutive = windows.consecutive(piece)
        waveform = None if corpus_audio is None else _piece_waveform(corpus_audio, record)
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
            example = {"id": f"{record['id']}@{window.start_frame}", "piece_id": record["id"],
                       "window_index": np.int32(window.index),
                       "window_start": np.float32(window.start_seconds(windows.codec.steps_per_second)),
                       "inputs": inputs, "inputs_positions": inputs_positions, "targets": targets,
                       "targets_positions": targets_positions, "reference_notes": _window_notes(windows, window)}
            if waveform is not None:
                example["window_audio"] = _window_audio(waveform, record, windows, window, variant)
            yield example
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


def _has_window_audio(direction: directions.Direction, split: str) -> bool:
    """Evaluation windows of audio→MIDI carry their waveform, for the peer transcribers."""
    return split != "train" and direction.source is Modality.AUDIO


def _corpus_audio(dataset: DatasetSpec, split: str) -> dict[str, bytes]:
    """piece id → its FLAC bytes in the corpus store (decoded one piece at a time); {} when not built."""
    from mt_music.data import codec_windows

    if dataset.corpus_config is None:
        return {}
    try:
        return {example["id"].decode(): bytes(example["audio_flac"])
                for example in codec_windows.corpus_examples(dataset.corpus_config, split)}
    except codec_windows.DataError as error:
        logging.warning("%s/%s: no peer audio (%s)", dataset.name, split, error)
        return {}


def _piece_waveform(corpus_audio: dict[str, bytes], record) -> np.ndarray:
    from mt_music.corpus import tfds_builder

    flac = corpus_audio.get(record["id"])
    return np.zeros(0, np.float32) if flac is None else tfds_builder.decode_audio(flac)


def _window_audio(waveform: np.ndarray, record, windows: piece_windows.PieceWindows, window: piece_windows.Window,
                  variant: int) -> np.ndarray:
    """The window's samples of the piece's waveform, shifted as the baked audio variant is."""
    if not len(waveform):
        return np.zeros(0, np.float32)
    shifts = np.asarray(record.get("audio_shifts", [0])).reshape(-1)
    waveform = shift_audio(waveform, int(shifts[variant]) if variant < len(shifts) else 0)[: len(waveform)]
    start = window.start_frame * HOP_LENGTH
    return np.asarray(waveform[start: start + windows.frames_per_window * HOP_LENGTH], np.float32)


def _dataset_fn(split: str, shuffle_files: bool, seed: int | None = None, *, dataset: DatasetSpec,
                direction: directions.Direction, limits: directions.LengthLimits,
                window_seconds: float) -> tf.data.Dataset:
    del shuffle_files
    spec = {"id": tf.TensorSpec([], tf.string), "piece_id": tf.TensorSpec([], tf.string),
            "window_index": tf.TensorSpec([], tf.int32), "window_start": tf.TensorSpec([], tf.float32),
            "reference_notes": tf.TensorSpec([None, 4], tf.float32),
            **{name: tf.TensorSpec([None, 2 if "positions" in name else None], tf.int32)
               for name in system_tasks.FEATURE_NAMES}}
    if _has_window_audio(direction, split):
        spec["window_audio"] = tf.TensorSpec([None], tf.float32)
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
