"""Score-image pixels: loading as grayscale, background whitening, the model's [-1, 1] range, rescaling.

Pure NumPy/Pillow; the conventions every image path shares (docs/design.md §3.3): grayscale
0..255, background lighter than (median − 20) set to white, white = +1 and black = −1 in the model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

WHITEN_MARGIN = 20

ImageSource = str | Path | Image.Image | np.ndarray


def load_grayscale(source: ImageSource) -> np.ndarray:
    """Loads a path, PIL image or array as float32 grayscale in 0..255 (transparent → white).

    Arrays may be [H, W], [H, W, 3] or [H, W, 4]; uint8 or float in 0..255 (float arrays whose
    maximum is ≤ 1 are taken to be in 0..1).
    """
    if isinstance(source, (str, Path)):
        with Image.open(source) as opened:
            return _pil_to_gray(opened)
    if isinstance(source, Image.Image):
        return _pil_to_gray(source)
    return _array_to_gray(np.asarray(source))


def _pil_to_gray(image: Image.Image) -> np.ndarray:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.asarray(image.convert("L"), dtype=np.float32)


def _array_to_gray(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 4:
        alpha = array[..., 3:4].astype(np.float32) / (255.0 if array.dtype == np.uint8 else 1.0)
        rgb = array[..., :3].astype(np.float32)
        white = 255.0 if array.dtype == np.uint8 or rgb.max() > 1.0 else 1.0
        array = rgb * alpha + white * (1.0 - alpha)
    if array.ndim == 3 and array.shape[2] == 3:
        array = array.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale or RGB(A) image array, got shape {array.shape}")
    gray = array.astype(np.float32)
    if array.dtype != np.uint8 and gray.size and float(gray.max()) <= 1.0:
        gray = gray * 255.0
    return np.clip(gray, 0.0, 255.0)


def whiten_background(gray: np.ndarray, margin: float = WHITEN_MARGIN) -> np.ndarray:
    """Sets every pixel lighter than (median − margin) to pure white, removing paper tone/noise."""
    whitened = np.array(gray, dtype=np.float32, copy=True)
    whitened[whitened > np.median(whitened) - margin] = 255.0
    return whitened


def to_model_range(gray: np.ndarray) -> np.ndarray:
    """Maps 0..255 grayscale to [-1, 1]: white (255) → +1, black (0) → -1."""
    return (np.asarray(gray, dtype=np.float32) / 127.5 - 1.0).astype(np.float32)


def from_model_range(pixels: np.ndarray) -> np.ndarray:
    """Inverse of `to_model_range`, clipped and rounded to uint8 (for saving generated images)."""
    gray = (np.asarray(pixels, dtype=np.float32) + 1.0) * 127.5
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


def rescale(gray: np.ndarray, factor: float) -> np.ndarray:
    """Resizes a 0..255 grayscale image by `factor` (Lanczos, antialiased when shrinking)."""
    height, width = gray.shape
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    if size == (width, height):
        return np.asarray(gray, dtype=np.float32)
    resized = Image.fromarray(np.asarray(gray, dtype=np.float32)).resize(
        size, Image.Resampling.LANCZOS
    )
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 255.0)
