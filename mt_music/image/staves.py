"""Staff detection: the five-line staves of a score image, from the geometry of its staff lines.

The staff height they give is what preprocessing normalises to 18 px; the staves' positions are
what system detection on whole pages builds on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mt_music.image.pixels import ImageSource, load_grayscale, whiten_background


class NoStaffFoundError(ValueError):
    """The image has no detectable five-line staff (pass `staff_height=` to skip detection)."""



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
        # a staff's spaces hold no other line: five equally spaced lines with candidates between them
        # are lines of several staves (the bottom lines of a page's staves are equally spaced too)
        if len(chain) == 5 and chain[-1] - chain[0] == 4 and _is_regular_staff(centers[chain], thicknesses[chain]):
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
    """Clusters per-strip detections of the same staff (top and bottom both within a quarter of its
    height), then keeps, of staves that overlap, the one found in more strips: a strip where a
    staff's lines are broken can chain lines of several staves (or ledger lines) into a wider
    "staff", which must neither swallow the real ones nor survive beside them."""
    clusters: list[list[tuple[float, float, int, int]]] = []
    medians: list[tuple[float, float]] = []  # (top, bottom) of each cluster, kept current
    for detection in sorted(detections, key=lambda d: d[0]):
        home = None
        for index in range(len(clusters) - 1, -1, -1):  # sorted by top: only recent clusters can match
            top, bottom = medians[index]
            if top < detection[0] - (detection[1] - detection[0]):
                break
            tolerance = 0.25 * (bottom - top)
            if abs(detection[0] - top) < tolerance and abs(detection[1] - bottom) < tolerance:
                home = index
                break
        if home is None:
            clusters.append([detection])
            medians.append(detection[:2])
        else:
            clusters[home].append(detection)
            medians[home] = (float(np.median([d[0] for d in clusters[home]])),
                             float(np.median([d[1] for d in clusters[home]])))
    candidates = [staff for cluster in clusters for staff in _cluster_to_staff(cluster, min_support)]
    kept: list[Staff] = []
    for staff in sorted(candidates, key=lambda s: (-s.support, s.height)):
        if all(staff.bottom < other.top or staff.top > other.bottom for other in kept):
            kept.append(staff)
    return sorted(kept, key=lambda s: s.top)


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
