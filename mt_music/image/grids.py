"""Score-image token grids: flattening, joining and splitting systems in the native code space.

Pure NumPy (docs/design.md §3.3). The image codec turns an H×W image into a grid of codes
[H/16, W/16, K]. Here such grids are flattened column by column and several systems are joined into
one frame sequence, in a NATIVE code space that the unified vocabulary maps to global ids:

    per slot   0 .. C-1          codebook codes (C = codebook_size, 1024)
               C                 image PAD
    slot 0     C+1               SEP (between systems)
               C+2 .. C+1+R      height tokens for 1..R rows (R = max_rows, 26)

Special frames (SEP, height) carry their marker in slot 0 and PAD in every other slot.

Positions are (x, y) int32: x = column index counted across all systems of a sequence (0-based; a
SEP frame takes an x of its own), y = row + 1 for code frames (1..rows), and y = 0 for SEP and height
frames, which have no row; y = 0 is the "no y" value of docs/design.md §4. A height frame shares the x of
the first column of its system.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

PATCH_SIZE = 16  # pixels per token side: the image codec downsamples 16×
ROW_Y_OFFSET = 1  # y of the top row; y = 0 is reserved for frames without a row (SEP, height).


def padded_size(length: int, multiple: int = PATCH_SIZE) -> int:
    """Smallest multiple of `multiple` that holds `length` (at least one patch)."""
    return max(multiple, -(-length // multiple) * multiple)


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
