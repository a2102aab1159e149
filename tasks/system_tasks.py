"""SeqIO tasks for system-level translation: one per (dataset, direction), from baked token records.

Each example of a task is one baked system rendered in the direction's two modalities
(`mt_music.data.system_frames`): `inputs` / `targets` int32 [T, K] frames in the unified vocabulary
with `inputs_positions` / `targets_positions` [T, 2]. The shift variant of the image and the offset
variant of the audio are drawn per example from (seed, example index), so an epoch is reproducible.
Records that lack one of the modalities are left out; records over the length limits are counted
(`over_limit_counts`) and logged, never cut. `reference_notes` [N, 4] carries the system's notes for
the metrics of audio outputs, `reference_lmx` the system's LMX for those of image outputs.
"""

from __future__ import annotations

import functools

import numpy as np
import seqio
import tensorflow as tf
from absl import logging

from mt_music.data import directions, system_frames, token_records
from mt_music.data.seqio_vocabulary import ModalityVocabulary
from mt_music.data.translation_mixture import longest
from mt_music.tasks import postprocessors
from mt_music.tasks.datasets import DatasetSpec
from mt_music.vocabulary import Modality, UnifiedVocabulary

FEATURE_NAMES = ("inputs", "inputs_positions", "targets", "targets_positions")
over_limit_counts: dict[tuple[str, str], int] = {}  # (task, split) → records over the limits


def task_name(dataset: DatasetSpec, direction: directions.Direction) -> str:
    return f"{dataset.name}_{direction.name}"


def _examples(dataset: DatasetSpec, direction: directions.Direction, limits: directions.LengthLimits,
              lmx_flavor: str, split: str, seed: int):
    vocabulary = UnifiedVocabulary()
    name, over = task_name(dataset, direction), 0
    for index, record in enumerate(token_records.read(dataset.split_pattern(split))):
        sizes = [longest(vocabulary, record, direction.source, False), longest(vocabulary, record, direction.target, True)]
        if None in sizes:
            continue
        if sizes[0] > limits.of(direction.source) or sizes[1] > limits.of(direction.target):
            over += 1
            continue
        rng = np.random.default_rng([seed, index])
        image_variant = int(rng.choice(system_frames.image_variant_choices(
            record, output=direction.target is Modality.IMAGE))) if len(record["image_grids"]) else 0
        audio_variant = int(rng.integers(max(record["audio_codes"].shape[0], 1)))
        rendered = [system_frames.frames(vocabulary, record, modality, output=output, image_variant=image_variant,
                                         audio_variant=audio_variant, lmx_flavor=lmx_flavor)
                    for modality, output in ((direction.source, False), (direction.target, True))]
        (inputs, inputs_positions), (targets, targets_positions) = rendered
        if len(targets_positions) < len(targets):  # image outputs: EOS has no position of its own
            targets_positions = np.concatenate([targets_positions, np.zeros((1, 2), np.int32)])
        yield {"id": record["id"], "inputs": inputs, "inputs_positions": inputs_positions, "targets": targets,
               "targets_positions": targets_positions,
               "reference_notes": notes_array(system_frames.record_notes(record)),
               "reference_lmx": " ".join(system_frames.lmx_tokens(record, lmx_flavor))}
    over_limit_counts[(name, split)] = over
    if over:
        logging.warning("%s/%s: %d records over the length limits, not used", name, split, over)


def notes_array(notes) -> np.ndarray:
    """float32 [N, 4] (start, end, pitch, program) of the notes an example holds, seconds from its start:
    the reference of the audio outputs' transcription metrics (drums left out: transcribers skip them)."""
    rows = [(n.start, n.end, n.pitch, n.program) for n in notes if not n.is_drum]
    return np.asarray(rows, np.float32).reshape(-1, 4)


def _dataset_fn(split: str, shuffle_files: bool, seed: int | None = None, *, dataset: DatasetSpec,
                direction: directions.Direction, limits: directions.LengthLimits, lmx_flavor: str) -> tf.data.Dataset:
    del shuffle_files  # records are read in file order; training shuffles through the mixture
    spec = {"id": tf.TensorSpec([], tf.string), "reference_notes": tf.TensorSpec([None, 4], tf.float32),
            "reference_lmx": tf.TensorSpec([], tf.string), **{name: tf.TensorSpec([None, 2 if "positions" in name else None],
                                                                            tf.int32) for name in FEATURE_NAMES}}
    generator = functools.partial(_examples, dataset, direction, limits, lmx_flavor, split, seed or 0)
    return tf.data.Dataset.from_generator(generator, output_signature=spec)


def output_features(direction: directions.Direction) -> dict[str, seqio.Feature]:
    """[T, K] frames in the unified vocabulary; EOS is already in the frames (no add_eos)."""
    return {"inputs": seqio.Feature(ModalityVocabulary(direction.source), add_eos=False, rank=2),
            "targets": seqio.Feature(ModalityVocabulary(direction.target), add_eos=False, rank=2)}


def register(dataset: DatasetSpec, *, limits: directions.LengthLimits = directions.LengthLimits(),
             lmx_flavor: str = "core") -> list[str]:
    """Registers the dataset's tasks (every direction its modalities allow); returns their names."""
    names = []
    for direction in directions.ALL:
        if direction.source not in dataset.modalities or direction.target not in dataset.modalities:
            continue
        name = task_name(dataset, direction)
        seqio.TaskRegistry.remove(name)
        source = seqio.FunctionDataSource(
            functools.partial(_dataset_fn, dataset=dataset, direction=direction, limits=limits, lmx_flavor=lmx_flavor),
            splits=dataset.splits)
        seqio.TaskRegistry.add(
            name, source=source, preprocessors=[], output_features=output_features(direction),
            postprocess_fn=postprocessors.for_modality(direction.target), metric_fns=[])
        names.append(name)
    return names
