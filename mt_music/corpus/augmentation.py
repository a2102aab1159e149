"""Seeded augmentation of one rendering ("variant") of a piece, recorded in every example.

Axes: key transposition (respelled, `pieces.transpose`), tempo scaling, soundfont, engraving font,
velocity humanisation and the layout width (which changes the system breaks). Variant 0 of a piece
is the CANONICAL rendering (written key, Leipzig font, the widest layout); its audio axes (tempo,
soundfont, velocities) are still drawn, so even a one-variant build has timbre and tempo variety.
Everything derives from (seed, piece id, variant) through a hash, so a piece renders identically
in any build, with any number of workers, in any order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np

from mt_music.image.engraving import MUSIC_FONTS

DEFAULT_FONT = "Leipzig"
TRANSPOSE_SEMITONES = (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6)
TEMPO_RANGE = (0.8, 1.25)  # factor on the score's (or default) tempo, log-uniform
VELOCITY_SIGMA_RANGE = (0.0, 12.0)
LAYOUT_WIDTH_RANGE = (0.55, 1.0)  # fraction of the width budget that systems are filled to
STRETCH_RANGE = (1.0, 1.12)  # page width over the widest system's natural width


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """The settings of one variant; `as_json()` goes into every example's metadata."""

    variant: int
    seed: int
    transpose_semitones: int = 0  # requested; `applied` in the example says what was possible
    tempo_factor: float = 1.0
    soundfont: str = "TimGM6mb"
    font: str = DEFAULT_FONT
    velocity_sigma: float = 0.0
    layout_fill: float = 1.0
    stretch: float = 1.0

    def as_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    def rng(self, purpose: str) -> np.random.Generator:
        """A generator for one purpose (e.g. "velocity"), independent of the other purposes."""
        return np.random.default_rng(_seed_int(self.seed, purpose))


def _seed_int(*parts: object) -> int:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def sample_augmentation(seed: int, piece_id: str, variant: int, soundfonts: tuple[str, ...]) -> Augmentation:
    """The augmentation of variant `variant` of a piece (variant 0 keeps the notation canonical)."""
    variant_seed = _seed_int("augmentation", seed, piece_id, variant)
    rng = np.random.default_rng(variant_seed)
    tempo = float(np.exp(rng.uniform(np.log(TEMPO_RANGE[0]), np.log(TEMPO_RANGE[1]))))
    soundfont = str(soundfonts[int(rng.integers(len(soundfonts)))])
    sigma = float(rng.uniform(*VELOCITY_SIGMA_RANGE))
    transpose = int(TRANSPOSE_SEMITONES[int(rng.integers(len(TRANSPOSE_SEMITONES)))])
    font = str(MUSIC_FONTS[int(rng.integers(len(MUSIC_FONTS)))])
    fill = float(rng.uniform(*LAYOUT_WIDTH_RANGE))
    stretch = float(rng.uniform(*STRETCH_RANGE))
    if variant == 0:
        transpose, font, fill, stretch = 0, DEFAULT_FONT, 1.0, 1.0
    return Augmentation(variant=variant, seed=variant_seed, transpose_semitones=transpose,
                        tempo_factor=round(tempo, 4), soundfont=soundfont, font=font,
                        velocity_sigma=round(sigma, 3), layout_fill=round(fill, 4), stretch=round(stretch, 4))
