"""MusicXML primitives on ElementTree: parse and write, the single part, its measures, pitches.

Shared by `performance` (reading notes and times) and `notation` (editing the document), which
work on one and the same pianoform `score-partwise` document.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

STEP_SEMITONES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def parse(xml: bytes | str) -> ET.Element:
    """The root of a score-partwise document; ValueError for anything else."""
    root = ET.fromstring(xml if isinstance(xml, bytes) else xml.encode("utf-8"))
    if root.tag != "score-partwise":
        raise ValueError(f"expected score-partwise MusicXML, got <{root.tag}>")
    return root


def to_bytes(root: ET.Element) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def part_of(root: ET.Element) -> ET.Element:
    """The one <part> of a pianoform score; ValueError when there are several or none."""
    parts = root.findall("part")
    if len(parts) != 1:
        raise ValueError(f"expected one <part>, found {len(parts)}")
    return parts[0]


def measures(root: ET.Element) -> list[ET.Element]:
    return part_of(root).findall("measure")


def staff_count(root: ET.Element) -> int:
    counts = [int(e.text) for e in part_of(root).iter("staves") if e.text and e.text.strip().isdigit()]
    return max(counts) if counts else 1


def child_text(element: ET.Element | None, path: str, default: str | None = None) -> str | None:
    """The stripped text at `path` under `element`, or `default`."""
    found = element.find(path) if element is not None else None
    return found.text.strip() if found is not None and found.text else default


def duration(element: ET.Element) -> int:
    """An element's <duration> in divisions (0 when absent, e.g. grace notes)."""
    text = element.findtext("duration")
    return int(float(text)) if text and text.strip() else 0


def midi_pitch(pitch: ET.Element) -> int:
    """MIDI number of a <pitch> (step, octave, alter)."""
    step = child_text(pitch, "step", "C")
    octave = int(child_text(pitch, "octave", "4"))
    alter = float(child_text(pitch, "alter", "0"))
    return 12 * (octave + 1) + STEP_SEMITONES[step] + round(alter)


def pitch_class(step: str, alter: int) -> int:
    return (STEP_SEMITONES[step] + alter) % 12
