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
optimisation on machines too small for whole systems.

Given piece records (`pieces`), audio→MIDI and MIDI→audio train on random windows of whole
performances instead (`piece_windows`, 10 s by default: the published AMT setting). A random
window over the limits is drawn again (up to `WINDOW_DRAWS` times, then one of the piece's
consecutive windows that fits is taken); pieces with no window that fits are counted in
`skipped`. TensorFlow-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from absl import logging

from mt_music.data import curriculum, features, piece_windows, system_frames
from mt_music.data.directions import Direction, LengthLimits
from mt_music.data.indexed_source import IndexedSource
from mt_music.errors import UserError
from mt_music.vocabulary import Modality, UnifiedVocabulary

WINDOW_DRAWS = 8


def _variants(record: Mapping[str, Any], modality: Modality) -> int:
    if modality is Modality.IMAGE:
        return int(np.asarray(record["image_grids"]).reshape(-1, 2).shape[0])
    if modality is Modality.AUDIO:
        return int(np.asarray(record["audio_codes"]).shape[0]) if np.asarray(record["audio_codes"]).size else 0
    return 1


def _image_variant(record: Mapping[str, Any], direction: Direction, rng: np.random.Generator) -> int:
    """A drawn image variant: degraded copies only where the image is the source."""
    if Modality.IMAGE not in (direction.source, direction.target) or not _variants(record, Modality.IMAGE):
        return 0
    return int(rng.choice(system_frames.image_variant_choices(record, output=direction.target is Modality.IMAGE)))


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
                 lmx_flavor: str = "core", crop: bool = False, pieces: Sequence[Mapping[str, Any]] | None = None,
                 window_seconds: float = piece_windows.WINDOW_SECONDS):
        curriculum.check_ramps(ramps)
        self.crop = crop
        self.records, self.ramps = list(records), tuple(ramps)
        self.directions = [Direction.parse(ramp.task) for ramp in self.ramps]
        self.vocabulary = vocabulary or UnifiedVocabulary()
        self.encoder_length, self.decoder_length = encoder_length, decoder_length
        self.seed, self.step_scale, self.lmx_flavor = seed, step_scale, lmx_flavor
        self.windows = piece_windows.PieceWindows(pieces, self.vocabulary, window_seconds) if pieces else None
        self.fitting_windows: dict[str, dict[int, list[piece_windows.Window]]] = {}
        self.limits = limits
        self.eligible, self.skipped, self.cropped = self._eligible(limits)
        for direction, count in self.skipped.items():
            if count:
                logging.warning("%s: %d records over the length limits, not used", direction, count)
        for direction, count in self.cropped.items():
            if count:
                logging.info("%s: %d of %d records cut to %d / %d frames (crop)", direction, count,
                             len(self.eligible[direction]), encoder_length, decoder_length)
        for direction in self.directions:
            if self.reads_pieces(direction):
                logging.info("%s: random %g s windows of %d pieces", direction.name, self.windows.window_seconds,
                             len(self.eligible[direction.name]))
        empty = [d.name for d in self.directions if not len(self.eligible[d.name])]
        if empty:
            raise UserError(f"no record fits direction(s) {', '.join(empty)} (of {len(self.records)} records; "
                            f"over the limits: {self.skipped}); raise the lengths or drop the direction")

    @property
    def task_names(self) -> list[str]:
        """Direction names in task-id order (the metrics log names per-task losses with them)."""
        return [direction.name for direction in self.directions]

    def reads_pieces(self, direction: Direction) -> bool:
        return self.windows is not None and direction.name in piece_windows.PIECE_DIRECTIONS

    def _budget(self, direction: Direction, limits: LengthLimits) -> dict[bool, int]:
        """The most source (False) / target (True) frames a direction's examples may have."""
        lengths = {False: self.encoder_length, True: self.decoder_length}
        return {output: limits.of(modality) if self.crop else min(limits.of(modality), lengths[output])
                for modality, output in ((direction.source, False), (direction.target, True))}

    def _fits(self, window: piece_windows.Window, direction: Direction, budget: dict[bool, int]) -> bool:
        return all(self.windows.frame_count(window, modality, output=output) <= budget[output]
                   for modality, output in ((direction.source, False), (direction.target, True)))

    def _eligible_pieces(self, direction: Direction, limits: LengthLimits) -> tuple[np.ndarray, int, int]:
        budget, fitting, over = self._budget(direction, limits), {}, 0
        for piece, record in enumerate(self.windows.records):
            if not self.windows.audio_variants(piece) or not len(np.asarray(record["notes/start"])):
                continue
            windows = [w for w in self.windows.consecutive(piece) if self._fits(w, direction, budget)]
            if windows:
                fitting[piece] = windows
            else:
                over += 1
        self.fitting_windows[direction.name] = fitting
        return np.asarray(sorted(fitting), np.int64), over, 0

    def _eligible(self, limits: LengthLimits) -> tuple[dict[str, np.ndarray], dict[str, int], dict[str, int]]:
        eligible, skipped, cropped = {}, {}, {}
        cache: dict[tuple[int, Modality, bool], int | None] = {}
        for direction in self.directions:
            if self.reads_pieces(direction):
                eligible[direction.name], skipped[direction.name], cropped[direction.name] = \
                    self._eligible_pieces(direction, limits)
                continue
            indices, over, cut = [], 0, 0
            lengths = {False: self.encoder_length, True: self.decoder_length}
            budget = self._budget(direction, limits)
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
        if self.reads_pieces(direction):
            rendered = self._window_example(direction, rng)
        else:
            record = self.records[int(rng.choice(self.eligible[direction.name]))]
            variant = {Modality.AUDIO: int(rng.integers(max(_variants(record, Modality.AUDIO), 1))),
                       Modality.IMAGE: _image_variant(record, direction, rng)}
            rendered = [system_frames.frames(self.vocabulary, record, modality, output=output,
                                             lmx_flavor=self.lmx_flavor, image_variant=variant[Modality.IMAGE],
                                             audio_variant=variant[Modality.AUDIO])
                        for modality, output in ((direction.source, False), (direction.target, True))]
        (source, source_positions), (target, target_positions) = rendered
        if self.crop:
            source, source_positions = source[: self.encoder_length], source_positions[: self.encoder_length]
            target, target_positions = target[: self.decoder_length], target_positions[: self.decoder_length]
        return features.convert(self.vocabulary, source=source, source_positions=source_positions,
                                source_modality=direction.source, target=target, target_positions=target_positions,
                                target_modality=direction.target, encoder_length=self.encoder_length,
                                decoder_length=self.decoder_length, task_id=task_id)

    def _window_example(self, direction: Direction, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
        """(source, target) frames of a random window of a random piece."""
        piece = int(rng.choice(self.eligible[direction.name]))
        audio_variant = int(rng.integers(self.windows.audio_variants(piece)))
        budget = self._budget(direction, self.limits)
        fitting = self.fitting_windows[direction.name][piece]
        for _ in range(WINDOW_DRAWS):
            window = self.windows.random(piece, rng)
            if self.crop or self._fits(window, direction, budget):
                break
        else:  # a dense passage over the limits: one of the piece's windows that fit
            window = fitting[int(rng.integers(len(fitting)))]
        return [self.windows.frames(window, modality, output=output, audio_variant=audio_variant)
                for modality, output in ((direction.source, False), (direction.target, True))]
