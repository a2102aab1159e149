"""System detection on whole score pages, from staff-line geometry (the published pipeline used a
learned detector whose weights are not public).

A page's staves (`staves.detect_staves`) are grouped into systems: two staves one above the other
belong to one system when a vertical ink line — the system's start barline, brace or bracket
line — joins the bottom line of the upper to the top line of the lower near their left ends. A
staff joined to no neighbour is a system of its own (a solo part). Each system is cropped from
the page: vertically halfway into the gaps to its neighbours (at most `MARGIN_STAVES` staff
heights, so ledger lines, dynamics and lyrics come along), horizontally to the ink of that band.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mt_music.image.pixels import ImageSource, load_grayscale, whiten_background
from mt_music.image.staves import NoStaffFoundError, Staff, detect_staves

MARGIN_STAVES = 1.5  # the most a crop reaches above the top / below the bottom staff, in staff heights
_JOIN_SEARCH = 1.0  # staff heights either side of the staves' left end searched for the joining line
_JOIN_COVERAGE = 0.9  # share of the gap's rows that must be ink in one column (± 1 px)


@dataclasses.dataclass(frozen=True)
class System:
    staves: tuple[Staff, ...]
    top: int  # crop box in page pixels (bottom / right exclusive)
    bottom: int
    left: int
    right: int

    @property
    def staff_height(self) -> float:
        return float(np.mean([staff.height for staff in self.staves]))


def _joined(darkness: np.ndarray, upper: Staff, lower: Staff) -> bool:
    """A vertical ink line from the upper staff's bottom line to the lower staff's top line, near their left."""
    top, bottom = int(round(upper.bottom)), int(round(lower.top)) + 1
    if bottom - top < 2:
        return True
    reach = max(2, int(round(_JOIN_SEARCH * upper.height)))
    start = max(0, min(upper.left, lower.left) - reach)
    end = min(darkness.shape[1], max(upper.left, lower.left) + 2 * reach)
    ink = darkness[top:bottom, start:end] > 0.5
    if not ink.size:
        return False
    widened = ink.copy()  # a 1 px skew per column must not break the line
    widened[:, 1:] |= ink[:, :-1]
    widened[:, :-1] |= ink[:, 1:]
    return bool((widened.mean(axis=0) >= _JOIN_COVERAGE).any())


def group_staves(darkness: np.ndarray, staves: list[Staff]) -> list[list[Staff]]:
    groups: list[list[Staff]] = []
    for staff in staves:
        if groups and _joined(darkness, groups[-1][-1], staff):
            groups[-1].append(staff)
        else:
            groups.append([staff])
    return groups


def detect_systems(source: ImageSource) -> list[System]:
    """The page's systems, top to bottom; NoStaffFoundError when the page has no staff."""
    gray = whiten_background(load_grayscale(source))
    staves = detect_staves(gray)
    if not staves:
        raise NoStaffFoundError("no five-line staff detected on the page")
    darkness = (255.0 - gray) / 255.0
    groups = group_staves(darkness, staves)
    height, width = gray.shape
    systems = []
    for index, group in enumerate(groups):
        reach = MARGIN_STAVES * np.mean([s.height for s in group])
        above = group[0].top - (groups[index - 1][-1].bottom if index else -np.inf)
        below = (groups[index + 1][0].top if index + 1 < len(groups) else np.inf) - group[-1].bottom
        top = int(max(0, np.floor(group[0].top - min(reach, above / 2))))
        bottom = int(min(height, np.ceil(group[-1].bottom + min(reach, below / 2)) + 1))
        columns = np.flatnonzero((darkness[top:bottom] > 0.25).any(axis=0))
        left, right = (int(columns[0]), int(columns[-1]) + 1) if columns.size else (0, width)
        systems.append(System(tuple(group), top, bottom, left, right))
    return systems


def crop_systems(source: ImageSource) -> tuple[list[np.ndarray], list[System]]:
    """(grayscale uint8 crops, their systems) of a page."""
    gray = load_grayscale(source)
    systems = detect_systems(gray)
    return [np.asarray(gray[s.top: s.bottom, s.left: s.right]) for s in systems], systems
