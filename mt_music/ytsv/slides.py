"""Slide segmentation: the static sections of a score-following video, from its frames alone.

The published detector: about 3 checks per second; each checked frame in grayscale, Gaussian-blurred
(σ = 5 px, so compression noise and anti-aliasing flicker vanish), compared with the previous checked
frame; a pixel changed when the absolute difference exceeds 10 (of 255), and the picture changed when
the fraction of changed pixels exceeds 1e-4. Between two changes the picture is static: one slide,
whose middle checked frame is its image.

Times: check k shows the picture at k / rate (see `video.sample_frames`), so a change between checks
k − 1 and k happened in ((k − 1) / rate, k / rate]; the boundary is put in the middle, (k − ½) / rate,
at most half a check interval from the truth. The first section starts at 0, the last ends at the
video's end. Frames of a section are kept only until it outgrows `keep_seconds` (a longer section is
dropped later anyway), so memory stays bounded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
from scipy.ndimage import gaussian_filter

CHECKS_PER_SECOND = 3.0
BLUR_SIGMA = 5.0
PIXEL_THRESHOLD = 10.0  # of 255, on the blurred frames
CHANGE_FRACTION = 1e-4  # of the frame's pixels
MIN_SECONDS = 3.0  # published: shorter or longer segments are dropped
MAX_SECONDS = 20.0


@dataclasses.dataclass
class Section:
    """One static section: checks [first, last] (inclusive), its boundaries and its middle frame."""

    index: int
    first: int
    last: int
    start: float  # seconds
    end: float
    rate: float
    frame: np.ndarray | None = None  # the middle checked frame (uint8 gray); None when not kept

    @property
    def middle(self) -> int:
        return (self.first + self.last) // 2

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def seen(self) -> tuple[float, float]:
        """The span during which the slide was certainly on screen (first to last check showing it);
        the whole section when it was seen by one check only."""
        if self.last > self.first:
            return self.first / self.rate, self.last / self.rate
        return self.start, self.end


def blurred(frame: np.ndarray, sigma: float = BLUR_SIGMA) -> np.ndarray:
    return gaussian_filter(np.asarray(frame, np.float32), sigma, mode="mirror")  # OpenCV's default border


def changed(previous: np.ndarray, current: np.ndarray, threshold: float = PIXEL_THRESHOLD,
            fraction: float = CHANGE_FRACTION) -> bool:
    """Whether two blurred frames differ: the share of pixels apart by more than `threshold` > `fraction`."""
    if previous.shape != current.shape:
        return True
    return float(np.count_nonzero(np.abs(current - previous) > threshold)) / current.size > fraction


def segment(frames: Iterable[np.ndarray], rate: float = CHECKS_PER_SECOND, duration: float | None = None,
            keep_seconds: float = MAX_SECONDS) -> list[Section]:
    """The static sections of checked frames (frame k at time k / rate), in order.

    `duration`: the video's length, the end of the last section (default: half a check after its last
    frame). Sections lasting more than `keep_seconds` keep no frame."""
    sections: list[Section] = []
    keep = int(np.ceil(keep_seconds * rate)) + 2
    previous, first, held, count = None, 0, [], 0

    def close(last: int, end: float) -> None:
        start = 0.0 if not sections else (first - 0.5) / rate
        section = Section(len(sections), first, last, start, end, rate)
        if held is not None and len(held) == last - first + 1:
            section.frame = held[(last - first) // 2]
        sections.append(section)

    for index, frame in enumerate(frames):
        current = blurred(frame)
        if previous is not None and changed(previous, current):
            close(index - 1, (index - 0.5) / rate)
            first, held = index, []
        if held is not None and len(held) < keep:
            held.append(np.asarray(frame, np.uint8))
        elif held is not None:
            held = None  # too long to be a slide: stop holding its frames
        previous, count = current, index + 1
    if count:
        end = duration if duration is not None else (count - 0.5) / rate
        close(count - 1, max(end, (count - 1) / rate))
    return sections
