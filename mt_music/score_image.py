"""Score images: preprocessing and token grids (DESIGN §3.3).

Pure NumPy/Pillow. Two halves:

* Pixels. A system image is loaded as grayscale, its background whitened, its staff height measured
  from the staff lines, rescaled so the average staff height is 18 px, padded (white) to multiples of
  16 and mapped to [-1, 1] with WHITE = +1 and black = -1.
* Tokens. A codec (trained later) turns an H×W image into a grid of codes [H/16, W/16, K]. Here we
  flatten such grids column by column and join several systems into one frame sequence, in a NATIVE
  code space that the unified vocabulary maps to global ids:

      per slot   0 .. C-1          codebook codes (C = codebook_size, 1024)
                 C                 image PAD
      slot 0     C+1               SEP (between systems)
                 C+2 .. C+1+R      height tokens for 1..R rows (R = max_rows, 26)

  Special frames (SEP, height) carry their marker in slot 0 and PAD in every other slot.

Positions are (x, y) int32: x = column index counted across all systems of a sequence (0-based; a
SEP frame takes an x of its own), y = row + 1 for code frames (1..rows), and y = 0 for SEP and height
frames, which have no row; y = 0 is the "no y" value of DESIGN §4. A height frame shares the x of
the first column of its system.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

PATCH_SIZE = 16
TARGET_STAFF_HEIGHT = 18.0
WHITEN_MARGIN = 20
SHIFTS_X = 8
SHIFTS_Y = 4
ROW_Y_OFFSET = 1  # y of the top row; y = 0 is reserved for frames without a row (SEP, height).

ImageSource = str | Path | Image.Image | np.ndarray


class NoStaffFoundError(ValueError):
    """The image has no detectable five-line staff (pass `staff_height=` to skip detection)."""


# ---------------------------------------------------------------------------------------------------
# Loading and pixel value conventions
# ---------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------
# Staff detection
# ---------------------------------------------------------------------------------------------------

_STRIP_WIDTH = 48  # narrow enough that a ±1° skew moves a line by < 1 px within a strip
_MAX_MIN_RUN = 64  # a 1 px line skewed by 1° still gives horizontal runs of ~100 px
_MIN_LINE_COVERAGE = 0.5  # a staff-line row is ink over at least half of a strip
_MIN_STAFF_SPACE = 2.0  # px; below this the five lines merge into a blob
_SPACING_TOLERANCE = 0.15  # relative deviation allowed between the four gaps of one staff


@dataclass(frozen=True)
class Staff:
    """One detected five-line staff, in pixel coordinates of the analysed image."""

    top: float  # y of the centre of the top line
    bottom: float  # y of the centre of the bottom line
    left: int  # x extent of the strips in which it was found
    right: int
    support: int  # number of vertical strips that found it

    @property
    def height(self) -> float:
        """Distance from the top to the bottom line (4 staff spaces)."""
        return self.bottom - self.top


def detect_staves(source: ImageSource) -> list[Staff]:
    """Finds the five-line staves, top to bottom.

    The image is cut into narrow, half-overlapping vertical strips. In each strip, rows that are
    ink over most of the strip AND belong to long horizontal ink runs are staff-line candidates
    (notes, text and short beams drop out); five candidates with equal gaps form a staff.
    Detections of the same staff across strips are merged; each staff's top/bottom is the median
    over its strips, which tolerates a strip where a beam or a note merges with a line.
    """
    darkness = (255.0 - whiten_background(load_grayscale(source))) / 255.0
    height, width = darkness.shape
    if height < 5 or width < 2:
        return []
    long_runs = _long_horizontal_run_mask(darkness > 0.0, min_run=min(_MAX_MIN_RUN, max(24, width // 10)))
    strip = min(_STRIP_WIDTH, width)
    lefts = range(0, max(1, width - strip + 1), max(1, strip // 2))  # half-overlapping strips
    detections = []
    for left in lefts:
        runs = long_runs[:, left : left + strip]
        centers, thicknesses = _line_candidates(runs, darkness[:, left : left + strip])
        for top, bottom in _five_line_groups(centers, thicknesses):
            detections.append((top, bottom, left, left + strip))
    return _merge_detections(detections, min_support=2 if len(lefts) >= 4 else 1)


def estimate_staff_height(source: ImageSource) -> float:
    """Average staff height (top-line to bottom-line distance, px) over the detected staves."""
    staves = detect_staves(source)
    if not staves:
        raise NoStaffFoundError(
            "no five-line staff detected in the image; pass staff_height= to rescale it anyway"
        )
    return float(np.mean([staff.height for staff in staves]))


def _long_horizontal_run_mask(ink: np.ndarray, min_run: int) -> np.ndarray:
    """Marks ink pixels that belong to a horizontal run of at least `min_run` pixels."""
    height, width = ink.shape
    padded = np.zeros((height, width + 2), dtype=np.int8)
    padded[:, 1:-1] = ink
    steps = np.diff(padded.ravel())
    starts = np.flatnonzero(steps == 1)
    ends = np.flatnonzero(steps == -1)
    long = (ends - starts) >= min_run
    marks = np.zeros(padded.size + 1, dtype=np.int32)
    np.add.at(marks, starts[long] + 1, 1)
    np.add.at(marks, ends[long] + 1, -1)
    mask = np.cumsum(marks[:-1]).reshape(height, width + 2)[:, 1:-1] > 0
    return mask


def _line_candidates(runs: np.ndarray, darkness: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate lines in one strip: (sub-pixel centres, thicknesses in rows).

    A candidate is a band of consecutive rows where long-run ink covers at least half the strip;
    its centre is the centroid of that ink's darkness. A line thinner than a pixel usually falls
    into a single row, so each centre is only known to ±0.5 px; `_five_line_groups` averages.
    """
    rows = runs.mean(axis=1) >= _MIN_LINE_COVERAGE
    mass = (darkness * runs).sum(axis=1)
    edges = np.diff(np.concatenate([[0], rows.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    centers, thicknesses = [], []
    for start, end in zip(starts, ends):
        weights = mass[start:end].astype(np.float64)
        ys = np.arange(start, end, dtype=np.float64) + 0.5  # pixel row i spans [i, i + 1)
        total = weights.sum()
        centers.append(float((ys * weights).sum() / total) if total > 0 else float(ys.mean()))
        thicknesses.append(end - start)
    return np.asarray(centers), np.asarray(thicknesses)


def _five_line_groups(centers: np.ndarray, thicknesses: np.ndarray) -> list[tuple[float, float]]:
    """Finds runs of five candidates with equal gaps; returns fitted (top, bottom) line centres.

    Top and bottom come from a least-squares line through all five centres: thin lines are
    quantized to whole pixel rows (±0.5 px each), and the fit averages that out over five lines.
    """
    groups: list[tuple[float, float]] = []
    count = len(centers)
    first = 0
    while first + 4 < count:
        chain = _chain_from(first, centers, thicknesses)
        if chain is None:
            first += 1
            continue
        groups.append(_fitted_top_bottom(centers[chain]))
        first = chain[-1] + 1
    return groups


def _chain_from(first: int, centers: np.ndarray, thicknesses: np.ndarray) -> list[int] | None:
    """Tries every plausible second line after `first`; returns five equally spaced indices."""
    for second in range(first + 1, len(centers)):
        gap = centers[second] - centers[first]
        if gap < _MIN_STAFF_SPACE:
            continue
        if centers[first] + 4 * gap > centers[-1] + 2.0:
            break  # five lines at this gap no longer fit below `first`
        chain = [first, second]
        while len(chain) < 5:
            mean_gap = (centers[chain[-1]] - centers[first]) / (len(chain) - 1)
            expected = centers[chain[-1]] + mean_gap
            nearest = int(np.argmin(np.abs(centers - expected)))
            if nearest <= chain[-1] or abs(centers[nearest] - expected) > max(1.25, 0.2 * mean_gap):
                break
            chain.append(nearest)
        if len(chain) == 5 and _is_regular_staff(centers[chain], thicknesses[chain]):
            return chain
    return None


def _fitted_top_bottom(centers: np.ndarray) -> tuple[float, float]:
    offsets = np.arange(5, dtype=np.float64) - 2.0
    space = float((offsets * centers).sum() / (offsets**2).sum())
    middle = float(centers.mean())
    return middle - 2.0 * space, middle + 2.0 * space


def _is_regular_staff(centers: np.ndarray, thicknesses: np.ndarray) -> bool:
    """Centres on a straight line (within quantization) and lines thinner than the spaces."""
    top, bottom = _fitted_top_bottom(centers)
    space = (bottom - top) / 4.0
    if space < _MIN_STAFF_SPACE:
        return False
    residuals = centers - (top + space * np.arange(5))
    if np.any(np.abs(residuals) > max(1.0, _SPACING_TOLERANCE * space)):
        return False
    return bool(np.all(thicknesses <= max(2.0, 0.6 * space)))


def _merge_detections(detections: list[tuple[float, float, int, int]], min_support: int) -> list[Staff]:
    """Clusters per-strip detections of the same staff (centres closer than half a staff height)."""
    staves: list[Staff] = []
    cluster: list[tuple[float, float, int, int]] = []
    for detection in sorted(detections, key=lambda d: (d[0] + d[1]) / 2.0):
        if cluster and _belongs_to(cluster, detection):
            cluster.append(detection)
            continue
        staves.extend(_cluster_to_staff(cluster, min_support))
        cluster = [detection]
    staves.extend(_cluster_to_staff(cluster, min_support))
    return staves


def _belongs_to(cluster: list[tuple[float, float, int, int]], detection: tuple[float, float, int, int]) -> bool:
    tops, bottoms = np.array([d[0] for d in cluster]), np.array([d[1] for d in cluster])
    center = (np.median(tops) + np.median(bottoms)) / 2.0
    height = np.median(bottoms - tops)
    return abs((detection[0] + detection[1]) / 2.0 - center) < 0.5 * height


def _cluster_to_staff(cluster: list[tuple[float, float, int, int]], min_support: int) -> list[Staff]:
    if len(cluster) < max(1, min_support):
        return []
    tops = np.array([d[0] for d in cluster])
    bottoms = np.array([d[1] for d in cluster])
    return [
        Staff(
            top=float(np.median(tops)),
            bottom=float(np.median(bottoms)),
            left=min(d[2] for d in cluster),
            right=max(d[3] for d in cluster),
            support=len(cluster),
        )
    ]


# ---------------------------------------------------------------------------------------------------
# Rescaling, padding, the full preprocessing chain, shift augmentation
# ---------------------------------------------------------------------------------------------------


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


def padded_size(length: int, multiple: int = PATCH_SIZE) -> int:
    """Smallest multiple of `multiple` that holds `length` (at least one patch)."""
    return max(multiple, -(-length // multiple) * multiple)


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


def grid_shape_for_pixels(height: int, width: int) -> tuple[int, int]:
    """(rows, cols) of the token grid of a padded H×W image (one position per 16×16 patch)."""
    return padded_size(height) // PATCH_SIZE, padded_size(width) // PATCH_SIZE


# ---------------------------------------------------------------------------------------------------
# Token grids: native code space
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenGridConfig:
    """Sizes that define the native image code space; all special codes derive from these."""

    codebook_size: int = 1024
    num_slots: int = 4
    max_rows: int = 26
    max_cols: int = 150

    @property
    def pad_code(self) -> int:
        return self.codebook_size

    @property
    def sep_code(self) -> int:
        return self.codebook_size + 1

    @property
    def first_height_code(self) -> int:
        return self.codebook_size + 2

    @property
    def native_vocab_size(self) -> int:
        """Number of native values: codes, PAD, SEP and max_rows height tokens."""
        return self.codebook_size + 2 + self.max_rows

    def height_code(self, rows: int) -> int:
        if not 1 <= rows <= self.max_rows:
            raise ValueError(f"height must be within 1..{self.max_rows}, got {rows}")
        return self.codebook_size + 1 + rows

    def is_height_code(self, value: int) -> bool:
        return self.first_height_code <= value < self.native_vocab_size

    def rows_of_height_code(self, value: int) -> int:
        return int(value) - self.codebook_size - 1

    def special_frame(self, marker: int) -> np.ndarray:
        """A frame with `marker` in slot 0 and PAD elsewhere."""
        frame = np.full(self.num_slots, self.pad_code, dtype=np.int32)
        frame[0] = marker
        return frame


DEFAULT_TOKEN_GRID = TokenGridConfig()


class FrameSequence(NamedTuple):
    """Frames [T, K] of native codes with their (x, y) positions [T, 2]; unpacks as a pair."""

    frames: np.ndarray
    positions: np.ndarray


@dataclass
class DecodedSystems:
    """Per-system code grids recovered from a frame sequence, with what had to be repaired."""

    grids: list[np.ndarray] = field(default_factory=list)
    issues: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues


def flatten_token_grid(codes: np.ndarray, x_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """[rows, cols, K] → frames [rows·cols, K] column by column, positions (x, y) [T, 2].

    Within a column y runs top → bottom as row + 1 (y = 0 is kept for frames without a row).
    """
    codes = np.asarray(codes)
    if codes.ndim != 3:
        raise ValueError(f"expected a code grid [rows, cols, K], got shape {codes.shape}")
    rows, cols, slots = codes.shape
    frames = codes.transpose(1, 0, 2).reshape(rows * cols, slots).astype(np.int32)
    xs = np.repeat(np.arange(cols, dtype=np.int32) + x_offset, rows)
    ys = np.tile(np.arange(rows, dtype=np.int32) + ROW_Y_OFFSET, cols)
    return frames, np.stack([xs, ys], axis=1)


def unflatten_token_grid(frames: np.ndarray, rows: int) -> np.ndarray:
    """Inverse of `flatten_token_grid`: frames [rows·cols, K] → grid [rows, cols, K]."""
    frames = np.asarray(frames)
    if frames.ndim != 2 or rows <= 0 or frames.shape[0] % rows:
        raise ValueError(f"cannot split {frames.shape} frames into columns of {rows} rows")
    cols = frames.shape[0] // rows
    return frames.reshape(cols, rows, frames.shape[1]).transpose(1, 0, 2)


def trim_padding(grid: np.ndarray, config: TokenGridConfig = DEFAULT_TOKEN_GRID) -> np.ndarray:
    """Drops bottom rows and right columns made only of PAD codes."""
    is_pad = np.all(np.asarray(grid) == config.pad_code, axis=2)
    keep_rows = np.flatnonzero(~is_pad.all(axis=1))
    keep_cols = np.flatnonzero(~is_pad.all(axis=0))
    if keep_rows.size == 0:
        return grid[:0, :0]
    return grid[: keep_rows[-1] + 1, : keep_cols[-1] + 1]


def _validated_grid(grid: np.ndarray, index: int, config: TokenGridConfig) -> np.ndarray:
    grid = np.asarray(grid)
    if grid.ndim != 3 or grid.shape[2] != config.num_slots:
        raise ValueError(f"system {index}: expected [rows, cols, {config.num_slots}], got {grid.shape}")
    rows, cols, _ = grid.shape
    if not (1 <= rows <= config.max_rows and 1 <= cols <= config.max_cols):
        raise ValueError(
            f"system {index}: grid {rows}×{cols} is outside 1..{config.max_rows} rows × "
            f"1..{config.max_cols} columns"
        )
    if grid.min() < 0 or grid.max() > config.pad_code:
        raise ValueError(f"system {index}: codes must be within 0..{config.pad_code} (PAD)")
    return grid.astype(np.int32)


def join_systems_for_input(
    grids: Sequence[np.ndarray], config: TokenGridConfig = DEFAULT_TOKEN_GRID
) -> FrameSequence:
    """Encoder-side sequence: systems padded with PAD to the tallest, SEP frames between them."""
    grids = [_validated_grid(grid, i, config) for i, grid in enumerate(grids)]
    if not grids:
        raise ValueError("need at least one system grid")
    rows = max(grid.shape[0] for grid in grids)
    frames, positions, x = [], [], 0
    for index, grid in enumerate(grids):
        if index:
            x = _append_special(frames, positions, config.sep_code, x, config, takes_column=True)
        padded = np.full((rows, grid.shape[1], config.num_slots), config.pad_code, np.int32)
        padded[: grid.shape[0]] = grid
        x = _append_grid(frames, positions, padded, x)
    return FrameSequence(np.concatenate(frames), np.concatenate(positions))


def join_systems_for_output(
    grids: Sequence[np.ndarray], config: TokenGridConfig = DEFAULT_TOKEN_GRID
) -> FrameSequence:
    """Decoder-side sequence: per system a height frame then its columns; SEP between systems.

    PAD rows/columns at the bottom/right are dropped, so each system's columns wrap by its own
    height. The first height frame is frame 0 (the vocabulary puts SOS before it).
    """
    grids = [_validated_grid(trim_padding(np.asarray(g), config), i, config) for i, g in enumerate(grids)]
    if not grids:
        raise ValueError("need at least one system grid")
    frames, positions, x = [], [], 0
    for index, grid in enumerate(grids):
        if index:
            x = _append_special(frames, positions, config.sep_code, x, config, takes_column=True)
        _append_special(frames, positions, config.height_code(grid.shape[0]), x, config, takes_column=False)
        x = _append_grid(frames, positions, grid, x)
    return FrameSequence(np.concatenate(frames), np.concatenate(positions))


def join_systems(
    grids: Sequence[np.ndarray], config: TokenGridConfig = DEFAULT_TOKEN_GRID, for_output: bool = False
) -> FrameSequence:
    """`join_systems_for_output` when the image is the target, else `join_systems_for_input`."""
    join = join_systems_for_output if for_output else join_systems_for_input
    return join(grids, config)


def _append_special(frames: list, positions: list, marker: int, x: int, config: TokenGridConfig,
                    takes_column: bool) -> int:
    frames.append(config.special_frame(marker)[None])
    positions.append(np.array([[x, 0]], dtype=np.int32))
    return x + 1 if takes_column else x


def _append_grid(frames: list, positions: list, grid: np.ndarray, x: int) -> int:
    grid_frames, grid_positions = flatten_token_grid(grid, x_offset=x)
    frames.append(grid_frames)
    positions.append(grid_positions)
    return x + grid.shape[1]


# ---------------------------------------------------------------------------------------------------
# Token grids: robust inverse (model output may be malformed; never raise)
# ---------------------------------------------------------------------------------------------------


class _IssueLog:
    """Collects repair notes, counting repeated kinds instead of listing every frame."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.counts: dict[str, int] = {}

    def note(self, message: str) -> None:
        self.notes.append(message)

    def count(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def report(self) -> list[str]:
        return self.notes + [f"{kind} ({n}×)" for kind, n in self.counts.items()]


def _coerce_frames(frames: np.ndarray, config: TokenGridConfig, log: _IssueLog) -> np.ndarray:
    """Any array-like → int [T, K]; missing slots become PAD, extra slots are dropped."""
    try:
        array = np.asarray(frames, dtype=np.int64)
    except (TypeError, ValueError):
        log.note("frames are not an integer array; treated as empty")
        return np.zeros((0, config.num_slots), np.int64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        log.note(f"frames have shape {array.shape}; treated as empty")
        return np.zeros((0, config.num_slots), np.int64)
    slots = array.shape[1]
    if slots != config.num_slots:
        log.note(f"frames have {slots} slots, expected {config.num_slots}; padded/truncated")
        fixed = np.full((array.shape[0], config.num_slots), config.pad_code, np.int64)
        keep = min(slots, config.num_slots)
        fixed[:, :keep] = array[:, :keep]
        array = fixed
    return array


def _clean_code_frame(frame: np.ndarray, config: TokenGridConfig, log: _IssueLog) -> np.ndarray:
    """Codes outside 0..PAD (e.g. SEP in slot 2) become PAD."""
    bad = (frame < 0) | (frame > config.pad_code)
    if bad.any():
        log.count("out-of-range code replaced by PAD")
        frame = np.where(bad, config.pad_code, frame)
    return frame


def _columns_to_grid(frames: list[np.ndarray], rows: int, index: int, config: TokenGridConfig,
                     log: _IssueLog) -> np.ndarray:
    """Stacks frames into columns of `rows`, padding a truncated last column with PAD."""
    stacked = np.stack(frames).astype(np.int32) if frames else np.zeros((0, config.num_slots), np.int32)
    missing = (-len(stacked)) % rows
    if missing:
        log.note(f"system {index}: last column has {rows - missing} of {rows} rows; padded with PAD")
        pad = np.full((missing, config.num_slots), config.pad_code, np.int32)
        stacked = np.concatenate([stacked, pad])
    grid = unflatten_token_grid(stacked, rows)
    if grid.shape[1] > config.max_cols:
        log.note(f"system {index}: {grid.shape[1]} columns exceed the limit of {config.max_cols}")
    return grid


def split_systems_from_input(
    frames: np.ndarray,
    rows: int,
    config: TokenGridConfig = DEFAULT_TOKEN_GRID,
    strip_padding: bool = True,
) -> DecodedSystems:
    """Inverse of `join_systems_for_input` given the common height `rows`; never raises.

    With `strip_padding`, PAD rows/columns added for the tallest system are removed again.
    """
    log = _IssueLog()
    rows = int(rows)
    if not 1 <= rows <= config.max_rows:
        log.note(f"rows={rows} is outside 1..{config.max_rows}; clamped")
        rows = min(max(rows, 1), config.max_rows)
    chunks: list[list[np.ndarray]] = [[]]
    for frame in _coerce_frames(frames, config, log):
        marker = int(frame[0])
        if marker == config.sep_code:
            chunks.append([])
            continue
        if config.is_height_code(marker):
            log.count("height frame in an input sequence ignored")
            continue
        chunks[-1].append(_clean_code_frame(frame, config, log))
    result = DecodedSystems()
    for index, chunk in enumerate(chunks):
        if not chunk:
            log.note(f"system {index}: empty (consecutive, leading or trailing SEP); dropped")
            continue
        grid = _columns_to_grid(chunk, rows, index, config, log)
        result.grids.append(trim_padding(grid, config) if strip_padding else grid)
    result.issues = log.report()
    return result


@dataclass
class _PendingSystem:
    rows: int | None
    frames: list[np.ndarray] = field(default_factory=list)


def split_systems_from_output(
    frames: np.ndarray, config: TokenGridConfig = DEFAULT_TOKEN_GRID
) -> DecodedSystems:
    """Inverse of `join_systems_for_output`; never raises on malformed model output.

    Repairs (each reported in `issues`): a missing height takes the previous system's height
    (else the next one's, else min(frames, max_rows)); a truncated last column is padded with PAD;
    out-of-range codes become PAD; empty systems are dropped.
    """
    log = _IssueLog()
    pending = _parse_output_frames(_coerce_frames(frames, config, log), config, log)
    heights = _resolve_heights(pending, config, log)
    result = DecodedSystems()
    for index, (system, rows) in enumerate(zip(pending, heights)):
        result.grids.append(_columns_to_grid(system.frames, rows, index, config, log))
    result.issues = log.report()
    return result


def _parse_output_frames(frames: np.ndarray, config: TokenGridConfig, log: _IssueLog) -> list[_PendingSystem]:
    systems: list[_PendingSystem] = []
    current: _PendingSystem | None = None
    for t, frame in enumerate(frames):
        marker = int(frame[0])
        if config.is_height_code(marker):
            if current is not None and current.frames:
                log.note(f"frame {t}: height token without a preceding SEP; starts a new system")
                systems.append(current)
            elif current is not None and current.rows is not None:
                log.note(f"frame {t}: repeated height token; the last one is used")
            current = _PendingSystem(config.rows_of_height_code(marker))
        elif marker == config.sep_code:
            if current is None or not current.frames:
                log.note(f"frame {t}: SEP with no columns before it; empty system dropped")
            else:
                systems.append(current)
            current = None
        else:
            if current is None:
                current = _PendingSystem(None)
            if marker == config.pad_code:
                log.count("PAD frame inside an output image kept as PAD")
            current.frames.append(_clean_code_frame(frame, config, log))
    if current is not None and current.frames:
        systems.append(current)
    elif current is not None:
        log.note("sequence ends with a height token and no columns; dropped")
    return systems


def _resolve_heights(systems: list[_PendingSystem], config: TokenGridConfig, log: _IssueLog) -> list[int]:
    known = [s.rows for s in systems]
    heights = []
    for index, rows in enumerate(known):
        if rows is None:
            before = [r for r in known[:index] if r is not None]
            after = [r for r in known[index + 1 :] if r is not None]
            rows = (before[-1:] or after[:1] or [min(len(systems[index].frames), config.max_rows)])[0]
            log.note(f"system {index}: missing height token; assumed {rows} rows")
        heights.append(max(1, rows))
    return heights


def split_systems(
    frames: np.ndarray,
    config: TokenGridConfig = DEFAULT_TOKEN_GRID,
    for_output: bool = False,
    rows: int | None = None,
) -> DecodedSystems:
    """Inverse of `join_systems`. Input mode needs the common height `rows` (the y range of the
    positions): unlike output mode, its frames do not say how tall a column is."""
    if for_output:
        return split_systems_from_output(frames, config)
    if rows is None:
        raise ValueError("split_systems(for_output=False) needs rows= (the height systems were padded to)")
    return split_systems_from_input(frames, rows, config)
