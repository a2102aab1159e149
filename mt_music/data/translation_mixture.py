"""A curriculum mixture of system-level translation directions over baked records, as a training source.

The data-source contract of `mt_music.train` (`IndexedSource`): example `index` of batch `step` is a
pure function of (seed, step, index) — the direction drawn by the curriculum, the record, the
image shift variant and the audio offset variant all come from a generator seeded with them — so a
resumed run sees exactly the batches of an uninterrupted one and every host builds only its rows.

Records are numpy dicts (`token_records.read` on a host with TensorFlow, or a materialized store
without it); a direction only draws records that hold both of its modalities and fit the length
limits in every variant. What does not fit is counted per direction (`skipped`), logged, and never
cut — unless `crop=True`, the CPU smoke setting: then every record within the published limits
is used and its source and target are cut to their first encoder_length / decoder_length frames
(counted per direction in `cropped`, logged). A cropped pair is no longer a translation (the
target's prefix need not match the source's), so crops only check the pipeline and the
optimisation on machines too small for whole systems. TensorFlow-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from absl import logging

from mt_music.data import curriculum, features, system_frames
from mt_music.data.directions import Direction, LengthLimits
from mt_music.data.indexed_source import IndexedSource
from mt_music.errors import UserError
from mt_music.vocabulary import Modality, UnifiedVocabulary


def _variants(record: Mapping[str, Any], modality: Modality) -> int:
    if modality is Modality.IMAGE:
        return int(np.asarray(record["image_grids"]).reshape(-1, 2).shape[0])
    if modality is Modality.AUDIO:
        return int(np.asarray(record["audio_codes"]).shape[0]) if np.asarray(record["audio_codes"]).size else 0
    return 1


def longest(vocabulary: UnifiedVocabulary, record: Mapping[str, Any], modality: Modality, output: bool) -> int | None:
    """The most frames the modality takes over the record's variants; None when the record lacks it."""
    variants = _variants(record, modality)
    if modality is Modality.LMX and not str(record.get("lmx", "")).strip():
        return None
    if not variants:
        return None
    try:
        lengths = [system_frames.frame_count(vocabulary, record, modality, output=output, image_variant=v,
                                             audio_variant=v) for v in range(variants)]
    except ValueError:  # e.g. notes past the MIDI window: over the limit
        return np.iinfo(np.int32).max
    return max(lengths)


class TranslationMixture(IndexedSource):
    def __init__(self, records: Sequence[Mapping[str, Any]], ramps: Sequence[curriculum.Ramp], *,
                 encoder_length: int, decoder_length: int, limits: LengthLimits = LengthLimits(),
                 vocabulary: UnifiedVocabulary | None = None, seed: int = 0, step_scale: float = 1.0,
                 lmx_flavor: str = "core", crop: bool = False):
        curriculum.check_ramps(ramps)
        self.crop = crop
        self.records, self.ramps = list(records), tuple(ramps)
        self.directions = [Direction.parse(ramp.task) for ramp in self.ramps]
        self.vocabulary = vocabulary or UnifiedVocabulary()
        self.encoder_length, self.decoder_length = encoder_length, decoder_length
        self.seed, self.step_scale, self.lmx_flavor = seed, step_scale, lmx_flavor
        self.eligible, self.skipped, self.cropped = self._eligible(limits)
        for direction, count in self.skipped.items():
            if count:
                logging.warning("%s: %d of %d records over the length limits, not used", direction, count,
                                len(self.records))
        for direction, count in self.cropped.items():
            if count:
                logging.info("%s: %d of %d records cut to %d / %d frames (crop)", direction, count,
                             len(self.eligible[direction]), encoder_length, decoder_length)
        empty = [d.name for d in self.directions if not len(self.eligible[d.name])]
        if empty:
            raise UserError(f"no record fits direction(s) {', '.join(empty)} (of {len(self.records)} records; "
                            f"over the limits: {self.skipped}); raise the lengths or drop the direction")

    @property
    def task_names(self) -> list[str]:
        """Direction names in task-id order (the metrics log names per-task losses with them)."""
        return [direction.name for direction in self.directions]

    def _eligible(self, limits: LengthLimits) -> tuple[dict[str, np.ndarray], dict[str, int], dict[str, int]]:
        eligible, skipped, cropped = {}, {}, {}
        cache: dict[tuple[int, Modality, bool], int | None] = {}
        for direction in self.directions:
            indices, over, cut = [], 0, 0
            lengths = {False: self.encoder_length, True: self.decoder_length}
            budget = {output: limits.of(modality) if self.crop else min(limits.of(modality), lengths[output])
                      for modality, output in ((direction.source, False), (direction.target, True))}
            for index, record in enumerate(self.records):
                sizes = []
                for modality, output in ((direction.source, False), (direction.target, True)):
                    key = (index, modality, output)
                    if key not in cache:
                        cache[key] = longest(self.vocabulary, record, modality, output)
                    sizes.append(cache[key])
                if None in sizes:
                    continue
                if sizes[0] <= budget[False] and sizes[1] <= budget[True]:
                    indices.append(index)
                    cut += sizes[0] > lengths[False] or sizes[1] > lengths[True]
                else:
                    over += 1
            eligible[direction.name], skipped[direction.name] = np.asarray(indices, np.int64), over
            cropped[direction.name] = int(cut)
        return eligible, skipped, cropped

    def task_weights(self, step: int) -> dict[str, float]:
        """The curriculum's effective weights at `step` (for the metrics log)."""
        return dict(zip([d.name for d in self.directions], curriculum.weights(self.ramps, step, self.step_scale)))

    def example(self, step: int, index: int) -> dict[str, np.ndarray]:
        task_id = curriculum.draw(self.ramps, self.seed, step, index, self.step_scale)
        direction = self.directions[task_id]
        rng = np.random.default_rng([self.seed, step, index, 1])
        record = self.records[int(rng.choice(self.eligible[direction.name]))]
        variant = {m: int(rng.integers(max(_variants(record, m), 1))) for m in (Modality.IMAGE, Modality.AUDIO)}
        rendered = [system_frames.frames(self.vocabulary, record, modality, output=output, lmx_flavor=self.lmx_flavor,
                                         image_variant=variant[Modality.IMAGE], audio_variant=variant[Modality.AUDIO])
                    for modality, output in ((direction.source, False), (direction.target, True))]
        (source, source_positions), (target, target_positions) = rendered
        if self.crop:
            source, source_positions = source[: self.encoder_length], source_positions[: self.encoder_length]
            target, target_positions = target[: self.decoder_length], target_positions[: self.decoder_length]
        return features.convert(self.vocabulary, source=source, source_positions=source_positions,
                                source_modality=direction.source, target=target, target_positions=target_positions,
                                target_modality=direction.target, encoder_length=self.encoder_length,
                                decoder_length=self.decoder_length, task_id=task_id)
