"""System breaks chosen by us, engraving per system with verovio, rasterization.

We choose the measures of each system, so system i is exactly measures [a_i, b_i) in the LMX, the
image and the performance:

1. `natural_measure_widths`: verovio engraves the whole piece as ONE unjustified system (breaks
   "none") at the corpus scale; each measure's width in px is read from its staff lines.
2. `choose_system_breaks`: line breaking by dynamic programming over measures, like a typesetter:
   a system must fit the width budget (≤ 150 token columns × 16 px, minus margins), the duration
   budget (its audio + release tail ≤ the audio model's 20 s) and the LMX-token budget; among
   feasible layouts the one with the most evenly filled systems wins (sum of squared slack, where
   a system's fill is its largest share of any budget; the last system only pays when nearly
   empty). A single measure that breaks a budget still makes a system; the example is
   then checked and dropped with a reason.
3. `engrave_systems`: the breaks are written as <print new-system="yes"/> and verovio engraves with
   breaks "line" (encoded system breaks, one system per page) at a page width equal to the widest
   system's natural width times a small stretch, so justification only evens the systems out.
   Scale 25 gives an 18 px staff height (0.72 × scale); rsvg-convert rasterizes with the font fix.
"""

from __future__ import annotations

import dataclasses
import io
import re
import xml.etree.ElementTree as ET

import numpy as np
from PIL import Image

from mt_music.image import engraving

CORPUS_SCALE = 25  # verovio staff height = 0.72 × scale px → 18 px
MAX_IMAGE_WIDTH = 150 * 16  # px: 150 token columns
MAX_IMAGE_HEIGHT = 26 * 16  # px: 26 token rows
PAGE_MARGIN_UNITS = 60  # verovio units on every side (15 px at scale 25)
DEFAULT_MAX_SYSTEM_SECONDS = 18.0  # + 1 s release tail stays under the 1750-frame (20.3 s) audio limit
DEFAULT_MAX_LMX_TOKENS = 512
MAX_MEASURES_PER_SYSTEM = 48
HEADER_TOKENS = 8  # clef(s) + key restated at a system start
LAST_SYSTEM_FILL = 0.6  # below this fill the last system is penalised
LAST_SYSTEM_WEIGHT = 3.0
_SVG = "{http://www.w3.org/2000/svg}"
_LINE = re.compile(r"\s*M\s*([-\d.]+)[\s,]+([-\d.]+)\s*L\s*([-\d.]+)[\s,]+([-\d.]+)\s*")


class LayoutError(RuntimeError):
    """The piece could not be laid out or engraved."""


@dataclasses.dataclass(frozen=True)
class LayoutBudget:
    max_width_px: float = MAX_IMAGE_WIDTH - 2 * PAGE_MARGIN_UNITS * CORPUS_SCALE / 100 - 60
    max_seconds: float = DEFAULT_MAX_SYSTEM_SECONDS
    max_lmx_tokens: int = DEFAULT_MAX_LMX_TOKENS


def verovio_options(font: str, page_width_px: float | None, breaks: str, stretch_last: bool = False
                    ) -> engraving.EngravingOptions:
    """The corpus' engraving options: scale 25, one system per page, no header, tight margins."""
    page_width_units = 60000 if page_width_px is None else int(round(page_width_px * 100 / CORPUS_SCALE))
    extra = {
        "breaks": breaks,
        "adjustPageWidth": True,
        "pageMarginLeft": PAGE_MARGIN_UNITS,
        "pageMarginRight": PAGE_MARGIN_UNITS,
        "pageMarginTop": PAGE_MARGIN_UNITS,
        "pageMarginBottom": PAGE_MARGIN_UNITS,
    }
    if stretch_last:
        extra["minLastJustification"] = 0.0
    return engraving.EngravingOptions(scale=CORPUS_SCALE, page_width=page_width_units, font=font,
                                      one_system_per_page=True, adjust_page_height=True, extra=extra)


# ---------------------------------------------------------------------------------------------------
# Natural widths
# ---------------------------------------------------------------------------------------------------


def natural_measure_widths(musicxml: bytes, font: str = "Leipzig") -> list[float]:
    """Width in px of every measure when the piece is engraved as one unjustified system."""
    pages = engraving.render_svg_pages(musicxml, verovio_options(font, None, "none"))
    if len(pages) != 1:
        raise LayoutError(f"expected one page with breaks 'none', got {len(pages)}")
    widths = measure_extents(pages[0])
    return [right - left for left, right in widths]


def measure_extents(svg: str) -> list[tuple[float, float]]:
    """(left, right) px of each <g class="measure"> in document order, from its staff lines."""
    scale, offset_x, _ = engraving.svg_pixel_transform(svg)
    root = ET.fromstring(svg)
    extents = []
    for group in root.iter(f"{_SVG}g"):
        if "measure" not in (group.get("class") or "").split():
            continue
        xs = []
        for staff in group.iter(f"{_SVG}g"):
            if "staff" not in (staff.get("class") or "").split():
                continue
            for path in staff.findall(f"{_SVG}path"):
                match = _LINE.fullmatch(path.get("d", ""))
                if match and match.group(2) == match.group(4):
                    xs += [float(match.group(1)), float(match.group(3))]
        if xs:
            extents.append((offset_x + min(xs) * scale, offset_x + max(xs) * scale))
        else:
            extents.append((0.0, 0.0))
    return extents


def measure_count(svg: str) -> int:
    root = ET.fromstring(svg)
    return sum("measure" in (g.get("class") or "").split() for g in root.iter(f"{_SVG}g"))


def header_width_px(fifths: int) -> float:
    """Clef + key signature restated at a system start (the first measure's width already has them)."""
    staff_space = 0.72 * CORPUS_SCALE / 4
    return staff_space * (5.0 + 1.2 * abs(fifths))


# ---------------------------------------------------------------------------------------------------
# Line breaking
# ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SystemPlan:
    start: int  # first measure
    stop: int  # one past the last measure
    width_px: float  # natural width including the restated header
    seconds: float
    lmx_tokens: int


def choose_system_breaks(
    widths: list[float],
    seconds: list[float],
    tokens: list[int],
    header_px: list[float],
    budget: LayoutBudget,
    target_width_px: float | None = None,
) -> list[SystemPlan]:
    """Measures per system: feasible, evenly filled (see the module docstring).

    `header_px[i]` is the width added when measure i starts a system (0 for measure 0, whose
    natural width includes the clef, key and time signature). `target_width_px` (≤ the budget)
    is the fill the cost aims at; layouts vary with it.
    """
    count = len(widths)
    if not (len(seconds) == len(tokens) == len(header_px) == count) or count == 0:
        raise LayoutError("measure information is inconsistent or empty")
    target = min(target_width_px or budget.max_width_px, budget.max_width_px)
    width_prefix = np.concatenate([[0.0], np.cumsum(widths)])
    second_prefix = np.concatenate([[0.0], np.cumsum(seconds)])
    token_prefix = np.concatenate([[0], np.cumsum(tokens)])
    infinity = float("inf")
    cost = [infinity] * (count + 1)
    choice = [0] * (count + 1)
    cost[count] = 0.0
    for start in range(count - 1, -1, -1):
        for stop in range(start + 1, min(count, start + MAX_MEASURES_PER_SYSTEM) + 1):
            width = header_px[start] + width_prefix[stop] - width_prefix[start]
            duration = second_prefix[stop] - second_prefix[start]
            length = HEADER_TOKENS + token_prefix[stop] - token_prefix[start]
            feasible = width <= target and duration <= budget.max_seconds and length <= budget.max_lmx_tokens
            if not feasible and stop > start + 1:
                break  # longer systems only get worse
            fill = min(1.0, max(width / target, duration / budget.max_seconds, length / budget.max_lmx_tokens))
            if stop < count:
                slack = (1.0 - fill) ** 2
            else:  # the last system may be short, but a nearly empty one is ugly
                slack = LAST_SYSTEM_WEIGHT * max(0.0, LAST_SYSTEM_FILL - fill) ** 2 if start > 0 else 0.0
            total = slack + cost[stop] + 0.01  # the small constant prefers fewer systems
            if total < cost[start]:
                cost[start], choice[start] = total, stop
    plans = []
    start = 0
    while start < count:
        stop = choice[start]
        plans.append(SystemPlan(
            start, stop,
            float(header_px[start] + width_prefix[stop] - width_prefix[start]),
            float(second_prefix[stop] - second_prefix[start]),
            int(HEADER_TOKENS + token_prefix[stop] - token_prefix[start]),
        ))
        start = stop
    return plans


# ---------------------------------------------------------------------------------------------------
# Engraving
# ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class EngravedSystem:
    png: bytes  # 8-bit grayscale PNG
    width: int
    height: int
    staff_lines: list[list[float]]  # px, per staff (from the SVG geometry)
    measures: int  # measures verovio put on this page

    @property
    def staff_height(self) -> float:
        return float(np.mean([lines[-1] - lines[0] for lines in self.staff_lines])) if self.staff_lines else 0.0


def render_system_svgs(musicxml_with_breaks: bytes, font: str, page_width_px: float) -> list[str]:
    """One raster-ready SVG per system (verovio breaks "line": our encoded breaks only)."""
    return engraving.render_svg_pages(musicxml_with_breaks, verovio_options(font, page_width_px, "line"))


def _engraved(gray: Image.Image, svg: str) -> EngravedSystem:
    buffer = io.BytesIO()
    gray.save(buffer, format="PNG", optimize=False, compress_level=6)
    return EngravedSystem(buffer.getvalue(), gray.width, gray.height, engraving.staff_line_positions(svg),
                          measure_count(svg))


def rasterize(svg: str) -> EngravedSystem:
    """rsvg-convert (with the installed SMuFL/text fonts) → 8-bit grayscale PNG."""
    with Image.open(io.BytesIO(engraving.svg_to_png(svg))) as image:
        return _engraved(image.convert("L"), svg)


_SIZE = re.compile(r'^<svg\b[^>]*?\bwidth="(\d+)px"[^>]*?\bheight="(\d+)px"')
STACK_GAP = 8  # px of white between stacked pages, so no anti-aliasing crosses over


def rasterize_all(svgs: list[str]) -> list[EngravedSystem]:
    """Every page in ONE rsvg-convert run: the pages are stacked into one SVG, rasterized, cut.

    Saves a process start and font set-up per system; the crops are the pages' own pixel boxes
    (verovio sizes pages in whole px), so each image is what `rasterize` would give.
    """
    sizes = []
    for svg in svgs:
        match = _SIZE.match(svg)
        if match is None:
            return [rasterize(svg) for svg in svgs]
        sizes.append((int(match.group(1)), int(match.group(2))))
    if len(svgs) == 1:
        return [rasterize(svgs[0])]
    width = max(w for w, _ in sizes)
    height = sum(h for _, h in sizes) + STACK_GAP * (len(svgs) - 1)
    parts, tops, y = [], [], 0
    for svg, (_, page_height) in zip(svgs, sizes):
        tops.append(y)
        page = svg.replace(' overflow="visible"', "", 1)  # clip at the page box, as a lone raster does
        parts.append(page.replace("<svg ", f'<svg x="0" y="{y}" overflow="hidden" ', 1))
        y += page_height + STACK_GAP
    stacked = (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
               f'width="{width}px" height="{height}px" viewBox="0 0 {width} {height}">' + "".join(parts) + "</svg>")
    with Image.open(io.BytesIO(engraving.svg_to_png(stacked))) as image:
        sheet = image.convert("L")
    return [_engraved(sheet.crop((0, top, w, top + h)), svg) for svg, top, (w, h) in zip(svgs, tops, sizes)]
