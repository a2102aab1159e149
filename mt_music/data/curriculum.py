"""Curriculum mixing: each task's sampling weight ramps linearly from 0 at a start step to its
maximum at a full step, recomputed at every step (not once per epoch).

The published recipes (docs/design.md §6.3) ramp the harder directions in after the easier ones
that feed them: image-to-audio trains OMR from step 0, then MIDI→audio (15k→50k), then image→audio
(50k→70k); audio-to-image trains AMT from 0, then LMX→image (40k→50k), then audio→image (70k→90k).
`step_scale` multiplies every start and full step, so a 300-step CPU run keeps the same shape.
A draw is a pure function of (seed, step, example index). TensorFlow-free.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from mt_music.errors import UserError


@dataclasses.dataclass(frozen=True)
class Ramp:
    """Weight 0 before `start_step`, rising linearly to `max_weight` at `full_step`, flat after."""

    task: str
    start_step: int = 0
    full_step: int = 0
    max_weight: float = 1.0

    def __post_init__(self):
        if self.start_step < 0 or self.full_step < self.start_step or self.max_weight <= 0:
            raise UserError(f"curriculum ramp for {self.task}: need 0 ≤ start_step ≤ full_step and max_weight > 0, "
                            f"got start {self.start_step}, full {self.full_step}, max {self.max_weight}")

    def weight(self, step: int, step_scale: float = 1.0) -> float:
        start, full = self.start_step * step_scale, self.full_step * step_scale
        if step < start:
            return 0.0
        if step >= full:
            return self.max_weight
        return self.max_weight * (step - start) / (full - start)


def weights(ramps: Sequence[Ramp], step: int, step_scale: float = 1.0) -> np.ndarray:
    """The tasks' effective sampling probabilities at `step` (they sum to 1)."""
    raw = np.array([ramp.weight(step, step_scale) for ramp in ramps], np.float64)
    total = raw.sum()
    if total <= 0:
        raise UserError(f"no task of the mixture has weight at step {step} (every ramp starts later: "
                        f"{', '.join(f'{r.task} at {r.start_step * step_scale:g}' for r in ramps)}); "
                        "let one task start at step 0")
    return raw / total


def check_ramps(ramps: Sequence[Ramp]) -> None:
    """A mixture must have tasks, unique ones, and one task that trains from the first step."""
    if not ramps:
        raise UserError("a curriculum needs at least one task")
    names = [ramp.task for ramp in ramps]
    if len(set(names)) != len(names):
        raise UserError(f"a task appears twice in the curriculum: {sorted({n for n in names if names.count(n) > 1})}")
    weights(ramps, 0)


def draw(ramps: Sequence[Ramp], seed: int, step: int, index: int, step_scale: float = 1.0) -> int:
    """The task of global example `index` of batch `step`."""
    rng = np.random.default_rng([seed, step, index, 0x7A5C])
    return int(rng.choice(len(ramps), p=weights(ramps, step, step_scale)))


_IMAGE_TO_AUDIO = (Ramp("image2lmx"), Ramp("midi2audio", 15_000, 50_000), Ramp("image2audio", 50_000, 70_000))
_AUDIO_TO_IMAGE = (Ramp("audio2midi"), Ramp("lmx2image", 40_000, 50_000), Ramp("audio2image", 70_000, 90_000))
# Beyond the published system: the other six directions join while the middle stages ramp in.
_OTHERS = tuple(Ramp(name, 15_000, 50_000) for name in ("image2midi", "midi2image", "lmx2midi", "midi2lmx",
                                                       "lmx2audio", "audio2lmx"))

RECIPES: dict[str, tuple[Ramp, ...]] = {
    "image_to_audio": _IMAGE_TO_AUDIO,
    "audio_to_image": _AUDIO_TO_IMAGE,
    "bidirectional": _IMAGE_TO_AUDIO + _AUDIO_TO_IMAGE,
    "all_directions": _IMAGE_TO_AUDIO + _AUDIO_TO_IMAGE + _OTHERS,
}
