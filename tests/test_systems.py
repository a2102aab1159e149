"""System detection on whole pages engraved by verovio (several fonts and scales), measured against the
engraving's own geometry: every system found, and every staff's five lines inside its system's crop."""

from __future__ import annotations

import functools

import music21
import numpy as np
import pytest

from mt_music.image import engraving, systems

PAGES = [  # (music21 corpus piece, music font, verovio scale %)
    ("bach/bwv66.6", "Leipzig", 30),  # four staves joined per system, small
    ("bach/bwv66.6", "Bravura", 45),
    ("joplin/maple_leaf_rag", "Petaluma", 40),  # piano: grand staves joined by the brace
    ("joplin/maple_leaf_rag", "Leland", 55),
    ("essenFolksong/altdeu10", "Gootville", 35),  # one staff per system: nothing joins them
]


@functools.cache
def _musicxml(name: str) -> str:
    score = music21.corpus.parse(name)
    score = score.scores[0] if hasattr(score, "scores") else score
    return music21.musicxml.m21ToXml.GeneralObjectExporter(score).parse().decode()


@pytest.mark.parametrize(("piece", "font", "scale"), PAGES)
def test_every_system_is_found_with_all_its_staff_lines_inside_the_crop(piece, font, scale):
    options = engraving.EngravingOptions(scale=scale, font=font, one_system_per_page=False, adjust_page_height=False,
                                         extra={"pageHeight": 2970})
    page = engraving.engrave(_musicxml(piece), options)[0]
    expected_systems = page.svg.count('class="system"')
    assert expected_systems >= 2
    crops, found = systems.crop_systems(page.image)
    assert len(found) == expected_systems
    staves = [lines for lines in page.staff_lines if len(lines) == 5]
    assert sum(len(system.staves) for system in found) == len(staves)
    owners = []
    for lines in staves:  # the engraving's five line positions of each staff
        holding = [i for i, s in enumerate(found) if s.top <= min(lines) and max(lines) < s.bottom]
        assert len(holding) == 1, f"staff at {min(lines):.0f}-{max(lines):.0f} px is in crops {holding}"
        owners.append(holding[0])
    assert owners == sorted(owners)  # staves go to systems in page order, no system is empty
    assert set(owners) == set(range(len(found)))
    ink = np.asarray(page.image.convert("L")) < 128
    for crop, system in zip(crops, found):
        assert crop.shape == (system.bottom - system.top, system.right - system.left)
        band = np.flatnonzero(ink[int(system.staves[0].top): int(system.staves[-1].bottom) + 1].any(axis=0))
        assert system.left <= band[0] and band[-1] < system.right  # the staves' whole width is in the crop
