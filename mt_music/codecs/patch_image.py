"""The CPU image codec: binarized 16×16 px patches coded by residual k-means (4 × 1024 codes per patch).

Why this design (docs/design.md §6.2.1): the translation model needs tokens that keep the notes,
and the RQ-VAE cannot be trained to that on 2 CPU cores in the main job's budget. Engraved
music at the 18 px staff height is ink on paper, so the patch is binarized at the ink threshold
first — k-means on grey levels spends its codes on anti-aliasing and decodes blurred edges —
and an RVQ over the binary patch vectors is fitted directly: greedy residual k-means, then
joint refinement of all four codebooks under beam-searched codes. Decoding sums the four
centroids and thresholds the sum, so decoded pages are crisp black on white.

The token interface is the RQ-VAE's: one token per 16×16 patch in row-major grid order, codes
[rows, cols, K], pixels in [-1, 1] with white = +1. What it gives up: grey levels, including the
1 px staff lines that the 18 px normalization leaves lighter than the ink threshold (they are
not ink by the evaluation's measure either; the RQ-VAE keeps them).
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from mt_music.codecs import fitted, residual_kmeans
from mt_music.errors import UserError
from mt_music.image import pixels as pixel_lib
from mt_music.image import preprocessing

PATCH = 16  # px per token side: the vocabulary's image grid


@dataclasses.dataclass(frozen=True)
class PatchImageConfig:
    num_codebooks: int = 4
    codebook_size: int = 1024
    ink_threshold: float = 0.0  # pixels (in [-1, 1]) darker than this are ink: −1, the rest paper: +1
    decode_threshold: float = 0.2  # a decoded centroid sum below this is ink (balances recall / precision)
    shifts_per_image: int = 16  # of preprocessing's 32 one-pixel shifts, sampled per training image
    white_patches: int = 1000  # all-paper patches kept in the fit data (the rest are redundant)
    kmeans_iterations: int = 10
    refinement_rounds: int = 3
    beam_width: int = 8  # encoding search; 1 = greedy
    refinement_beam_width: int = 4  # the refinement's search (the fit's largest cost)
    seed: int = 0

    def __post_init__(self):
        fitted.check_settings(self, may_be_zero=("seed", "refinement_rounds", "white_patches"),
                              any_sign=("ink_threshold", "decode_threshold"))


def to_patches(image: np.ndarray) -> np.ndarray:
    """[H, W] (multiples of 16) → [H/16 · W/16, 256] row-major patches."""
    height, width = image.shape
    return image.reshape(height // PATCH, PATCH, width // PATCH, PATCH).transpose(0, 2, 1, 3).reshape(-1, PATCH * PATCH)


def from_patches(rows: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """The inverse of `to_patches` for a grid of (rows, cols) tokens."""
    r, c = grid
    return rows.reshape(r, c, PATCH, PATCH).transpose(0, 2, 1, 3).reshape(r * PATCH, c * PATCH)


class PatchImageCodec(fitted.FittedCodec):
    family = "patch_image"
    kind = "image"
    config_class = PatchImageConfig

    @property
    def codebooks(self) -> np.ndarray:
        return self.arrays["codebooks"]

    def binarize(self, image: np.ndarray) -> np.ndarray:
        return np.where(np.asarray(image, np.float32) < self.config.ink_threshold, -1.0, 1.0).astype(np.float32)

    # ------------------------------------------------------------ fitting

    @classmethod
    def fit(cls, config: PatchImageConfig, images: list[np.ndarray]) -> PatchImageCodec:
        """Fits on system images (uint8 grey levels or [-1, 1] floats, any size), at sampled shifts."""
        rows = cls._fit_rows(config, images)
        if len(rows) < config.codebook_size:
            raise UserError(f"{len(images)} images give {len(rows)} patches with ink; fitting {config.codebook_size} "
                            "codes needs more (use a larger corpus config or more images)")
        kmeans = residual_kmeans.KMeansConfig(config.num_codebooks, config.codebook_size, config.kmeans_iterations,
                                              config.seed)
        report = _reporter(f"image codec: {len(rows)} patches")
        codebooks = residual_kmeans.fit(rows, kmeans, lambda stage, mse: report(f"stage {stage}", mse))
        codebooks = residual_kmeans.refine(rows, codebooks, config.refinement_rounds, config.refinement_beam_width,
                                           lambda index, mse: report(f"refinement {index}", mse))
        return cls(config, {"codebooks": codebooks})

    @classmethod
    def _fit_rows(cls, config: PatchImageConfig, images: list[np.ndarray]) -> np.ndarray:
        rng = np.random.default_rng(config.seed)
        shifts = preprocessing.shift_augmentations()
        binarize = cls(config, {}).binarize
        rows = []
        for image in images:
            content = binarize(_model_range(image))
            for index in rng.choice(len(shifts), min(config.shifts_per_image, len(shifts)), replace=False):
                rows.append(to_patches(preprocessing.shifted_padded_image(content, *shifts[index])))
        if not rows:
            return np.zeros((0, PATCH * PATCH), np.float32)
        rows = np.concatenate(rows)
        paper = np.all(rows > 0, axis=-1)
        return np.concatenate([rows[~paper], rows[paper][: config.white_patches]])

    # ------------------------------------------------------------ codes

    def encode_image(self, image: np.ndarray) -> np.ndarray:
        """[H, W] in [-1, 1] (H, W multiples of 16) → codes int32 [H/16, W/16, K]."""
        return self.encode_images([image])[0]

    def encode_images(self, images: list[np.ndarray], max_batch: int = 16) -> list[np.ndarray]:
        """`encode_image` over many images in one search (codes never depend on the batch)."""
        del max_batch  # patches are independent: all images go through one batched search
        images = [np.asarray(image, np.float32) for image in images]
        for image in images:
            if image.ndim != 2 or image.shape[0] % PATCH or image.shape[1] % PATCH:
                raise ValueError(f"expected [H, W] images with sides multiples of {PATCH}, got {image.shape}")
        if not images:
            return []
        rows = np.concatenate([to_patches(self.binarize(image)) for image in images])
        codes = residual_kmeans.encode(rows, self.codebooks, self.config.beam_width)
        grids = [(image.shape[0] // PATCH, image.shape[1] // PATCH) for image in images]
        ends = np.cumsum([r * c for r, c in grids])
        return [chunk.reshape(r, c, -1) for chunk, (r, c) in zip(np.split(codes, ends[:-1]), grids)]

    def decode_image(self, codes: np.ndarray) -> np.ndarray:
        """Codes [rows, cols, K] (K ≤ 4: the first stages) → pixels [rows·16, cols·16], ink −1, paper +1."""
        codes = self.check_codes(codes, 3)
        total = residual_kmeans.decode(codes.reshape(-1, codes.shape[-1]), self.codebooks)
        ink = from_patches(total, codes.shape[:2]) < self.config.decode_threshold
        return np.where(ink, -1.0, 1.0).astype(np.float32)


def _model_range(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    return pixel_lib.to_model_range(image.astype(np.float32)) if image.dtype == np.uint8 else image.astype(np.float32)


def _reporter(title: str):
    def report(what: str, mse: float) -> None:
        print(f"{title}: {what} done, residual MSE {mse:.4f}", file=sys.stderr, flush=True)
    return report
