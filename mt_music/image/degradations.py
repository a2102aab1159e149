"""Input-image degradations: what a scanned or photographed page does to an engraving.

The published system degrades its input images with a small rotation (within ±1°), erosion or
dilation of the ink, noise and a contrast/brightness change (docs/design.md §3.3). They act on
pixels, before the image codec, so the token bake encodes degraded copies next to the clean
shift variants (`token_bake.Baker(degraded_variants=N)`), and tasks use them as inputs only —
an image the model must *produce* is always clean.

Images are grayscale uint8 [H, W], white (255) background, dark ink; every draw comes from the
generator it is given, so a bake is reproducible. Pure NumPy/SciPy/Pillow.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image
from scipy import ndimage


@dataclasses.dataclass(frozen=True)
class Degradation:
    """One draw of the four degradations (what `apply` does, for logs and tests)."""

    degrees: float = 0.0  # rotation, counter-clockwise, about the centre; white fills the corners
    morphology: int = 0  # −1 erodes the ink (thinner), +1 dilates it (thicker), 0 neither; half strength
    noise_std: float = 0.0  # Gaussian noise, in grey levels
    contrast: float = 1.0  # multiplies the ink's darkness (distance from white)
    brightness: float = 0.0  # grey levels taken off the whole page (a darker paper tone)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class DegradationRanges:
    """Where the draws come from; the defaults follow the published ranges (rotation ±1°)."""

    max_degrees: float = 1.0
    morphology_probability: float = 0.5
    max_noise_std: float = 12.0
    contrast: tuple[float, float] = (0.75, 1.0)
    brightness: tuple[float, float] = (0.0, 30.0)


def sample(rng: np.random.Generator, ranges: DegradationRanges = DegradationRanges()) -> Degradation:
    morphology = int(rng.choice([-1, 1])) if rng.random() < ranges.morphology_probability else 0
    return Degradation(degrees=float(rng.uniform(-ranges.max_degrees, ranges.max_degrees)), morphology=morphology,
                       noise_std=float(rng.uniform(0.0, ranges.max_noise_std)),
                       contrast=float(rng.uniform(*ranges.contrast)), brightness=float(rng.uniform(*ranges.brightness)))


def apply(image: np.ndarray, degradation: Degradation, rng: np.random.Generator) -> np.ndarray:
    """The degraded image, same shape and dtype (uint8); `rng` draws the noise."""
    gray = np.asarray(image, np.uint8)
    if degradation.degrees:
        gray = np.asarray(Image.fromarray(gray).rotate(degradation.degrees, resample=Image.BILINEAR, fillcolor=255))
    if degradation.morphology:
        # ink is dark: a grey erosion of the picture spreads the ink (dilation of the ink), and back
        # at 18 px staff height the staff lines are 1–2 px: half-strength, so that thinning keeps them
        morph = ndimage.grey_erosion if degradation.morphology > 0 else ndimage.grey_dilation
        gray = np.round(0.5 * gray + 0.5 * morph(gray, size=(2, 2))).astype(np.uint8)
    pixels = gray.astype(np.float32)
    pixels = 255.0 - (255.0 - pixels) * degradation.contrast - degradation.brightness
    if degradation.noise_std:
        pixels = pixels + rng.normal(0.0, degradation.noise_std, pixels.shape).astype(np.float32)
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


def degrade(image: np.ndarray, rng: np.random.Generator,
            ranges: DegradationRanges = DegradationRanges()) -> tuple[np.ndarray, Degradation]:
    """A random draw applied: (degraded image, the draw)."""
    degradation = sample(rng, ranges)
    return apply(image, degradation, rng), degradation
