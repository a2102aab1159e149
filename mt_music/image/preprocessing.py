"""Score-image preprocessing: whiten, normalise the staff height to 18 px, pad to ×16, map to [-1, 1].

Also the 8×4 one-pixel shift augmentation applied before tokenizing (docs/design.md §3.3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mt_music.image.grids import DEFAULT_TOKEN_GRID, PATCH_SIZE, TokenGridConfig, grid_shape_for_pixels, padded_size
from mt_music.image.pixels import ImageSource, load_grayscale, rescale, to_model_range, whiten_background
from mt_music.image.staves import estimate_staff_height

TARGET_STAFF_HEIGHT = 18.0
SHIFTS_X = 8
SHIFTS_Y = 4


def pad_to_multiple(
    image: np.ndarray, multiple: int = PATCH_SIZE, offset: tuple[int, int] = (0, 0), fill: float = 255.0
) -> np.ndarray:
    """Places `image` at offset (dx, dy) on a `fill` canvas whose sides are multiples of `multiple`."""
    dx, dy = offset
    height, width = image.shape
    canvas = np.full((padded_size(height + dy, multiple), padded_size(width + dx, multiple)), fill, np.float32)
    canvas[dy : dy + height, dx : dx + width] = image
    return canvas


@dataclass(frozen=True)
class PreparedImage:
    """A preprocessed system image, ready for the image codec."""

    pixels: np.ndarray  # float32 [H, W], H and W multiples of 16, white = +1, black = -1
    content_shape: tuple[int, int]  # (height, width) of the rescaled image before padding
    source_staff_height: float  # staff height of the input, px (measured or given)
    scale: float  # factor applied to the input

    @property
    def grid_shape(self) -> tuple[int, int]:
        """(rows, cols) of the codec's token grid for this image."""
        return grid_shape_for_pixels(*self.pixels.shape)

    def fits(self, config: TokenGridConfig | None = None) -> bool:
        """Whether the token grid is within the rows × columns limits."""
        config = config or DEFAULT_TOKEN_GRID
        rows, cols = self.grid_shape
        return rows <= config.max_rows and cols <= config.max_cols


def preprocess_score_image(
    source: ImageSource,
    staff_height: float | None = None,
    target_staff_height: float = TARGET_STAFF_HEIGHT,
    shift: tuple[int, int] = (0, 0),
) -> PreparedImage:
    """Grayscale → whitened → staff height 18 px → padded to ×16 (right/bottom) → [-1, 1].

    `staff_height` (px) skips detection when the caller knows it (e.g. from the engraving's SVG);
    otherwise a `NoStaffFoundError` is raised for an image without a detectable staff. `shift`
    (dx, dy) moves the content right/down inside the padded canvas (shift augmentation).
    """
    gray = whiten_background(load_grayscale(source))
    measured = float(staff_height) if staff_height is not None else estimate_staff_height(gray)
    if measured <= 0:
        raise ValueError(f"staff height must be positive, got {measured}")
    factor = target_staff_height / measured
    content = whiten_background(rescale(gray, factor))
    pixels = to_model_range(pad_to_multiple(content, offset=shift))
    return PreparedImage(pixels, content.shape, measured, factor)


def shift_augmentations() -> list[tuple[int, int]]:
    """The 8×4 one-pixel shifts (dx in 0..7, dy in 0..3) applied before tokenizing."""
    return [(dx, dy) for dy in range(SHIFTS_Y) for dx in range(SHIFTS_X)]


def shifted_padded_image(image: PreparedImage | np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The content moved by (dx, dy) px on a white canvas padded to ×16, in [-1, 1].

    A `PreparedImage` is shifted from its unpadded content; a plain array in [-1, 1] is shifted
    as a whole.
    """
    if not (0 <= dx < SHIFTS_X and 0 <= dy < SHIFTS_Y):
        raise ValueError(f"shift must be within 0..{SHIFTS_X - 1} × 0..{SHIFTS_Y - 1}, got ({dx}, {dy})")
    if isinstance(image, PreparedImage):
        height, width = image.content_shape
        content = image.pixels[:height, :width]
    else:
        content = np.asarray(image, dtype=np.float32)
    return pad_to_multiple(content, offset=(dx, dy), fill=1.0)
