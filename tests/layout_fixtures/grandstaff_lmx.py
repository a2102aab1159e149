"""GrandStaff-LMX in miniature: `grandstaff-lmx/` with the GrandStaff images unpacked into it.

Layout from https://github.com/ufal/olimpic-icdar24 (`make install-grandstaff-lmx`, app/datasets/grandstaff/build.py
and its `tar-dataset` command; see mt_music/datasets/layouts/grandstaff_lmx.py): README.txt,
samples.{train,dev,test}.txt listing `<composer>/<collection>/<piece>/<excerpt>` base paths, and per sample
GrandStaff's `.krn`, `.jpg`, `_distorted.jpg` beside GrandStaff-LMX's `.lmx` and `.musicxml`. Sample names follow
GrandStaff's (the first is the real first line of samples.train.txt). Each excerpt is a small two-staff piano piece
written here as MusicXML and as the matching **kern (bass spine left, treble right); the LMX is mt_music's
linearization of that MusicXML, on one line as OLiMPiC writes it; the JPEGs are verovio engravings at scale 30
(the distorted one rotated, blurred and noisy). The test sample's `_distorted.jpg` is truncated garbage.
"""

from __future__ import annotations

import pathlib

from mt_music.lmx.linearize import linearize

from . import ExpectedItem, Fixture
from .olimpic import (
    QUARTERS,
    Bar,
    engrave_systems,
    garbage,
    image_bytes,
    lmx_line,
    piano_musicxml,
    scan_look,
    write_bytes,
    write_text,
)

SCALE = 30
SAMPLES = [  # (split file, sample, key fifths, bars)
    ("train", "beethoven/piano-sonatas/sonata01-2/maj2_down_m-0-5", -1, [
        ([("F4", "quarter"), ("A4", "quarter"), ("C5", "half")], [("F3", "whole")]),
        ([("Bb4", "half"), ("A4", "half")], [("C3", "half"), ("F3", "half")]),
    ]),
    ("train", "scarlatti-d/keyboard-sonatas/L523K205/min3_up_m-96-100", 1, [
        ([("G4", "quarter"), ("B4", "quarter"), ("D5", "quarter"), ("G5", "quarter")], [("G2", "whole")]),
        ([("F#5", "half"), ("r", "half")], [("D3", "half"), ("D2", "half")]),
    ]),
    ("dev", "chopin/mazurkas/mazurka06-2/maj3_up_m-21-25", 0, [
        ([("E5", "half"), ("D5", "quarter"), ("C5", "quarter")], [("C3", "quarter"), ("G3", "half"), ("E3", "quarter")]),
    ]),
    ("test", "mozart/piano-sonatas/sonata10-1/original_m-30-34", 0, [
        ([("C5", "whole")], [("C3", "quarter"), ("E3", "quarter"), ("G3", "quarter"), ("E3", "quarter")]),
        ([("B4", "half"), ("G4", "half")], [("G2", "whole")]),
    ]),
]
DAMAGED = {("distorted", "mozart/piano-sonatas/sonata10-1/original_m-30-34"): "its _distorted.jpg is truncated garbage"}
SPLIT_NAMES = {"train": "train", "dev": "validation", "test": "test"}
README = """\
GrandStaff-LMX (miniature test fixture of the layout of grandstaff-lmx.2024-02-12.tar.gz)
The .lmx and .musicxml files annotate the GrandStaff samples; the .krn and .jpg files are GrandStaff's own.
"""


def _kern_pitch(pitch: str) -> str:
    step, octave, accidental = pitch[0], int(pitch[-1]), pitch[1:-1]
    letters = step.lower() * (octave - 3) if octave >= 4 else step.upper() * (4 - octave)
    return letters + {"#": "#", "b": "-"}.get(accidental, "")


def kern(bars: list[Bar], fifths: int) -> str:
    """**kern of the bars: the bass spine first (GrandStaff's spine order), one line per onset, `.` where a spine
    has no new note."""
    signature = {-1: "b-", 0: "", 1: "f#"}[fifths]
    lines = ["**kern\t**kern", "*clefF4\t*clefG2", f"*k[{signature}]\t*k[{signature}]", "*M4/4\t*M4/4"]
    for number, (treble, bass) in enumerate(bars, start=1):
        spines = []
        for notes in (bass, treble):
            onsets, time = {}, 0
            for pitch, kind in notes:
                onsets[time] = f"{4 // QUARTERS[kind]}{'r' if pitch == 'r' else _kern_pitch(pitch)}"
                time += QUARTERS[kind]
            spines.append(onsets)
        for time in sorted(set(spines[0]) | set(spines[1])):
            lines.append("\t".join(spine.get(time, ".") for spine in spines))
        lines.append(f"={number}\t={number}" if number < len(bars) else "==\t==")
    lines.append("*-\t*-")
    return "\n".join(lines) + "\n"


def write(root: pathlib.Path) -> list[Fixture]:
    release = pathlib.Path(root) / "grandstaff-lmx"
    write_text(release / "README.txt", README)
    expected = {"clean": [], "distorted": []}
    listing: dict[str, list[str]] = {}
    for seed, (split, sample, fifths, bars) in enumerate(SAMPLES):
        listing.setdefault(split, []).append(sample)
        base = release / sample
        musicxml = piano_musicxml(bars, fifths=fifths)
        tokens = linearize(musicxml)
        write_text(base.with_suffix(".musicxml"), musicxml)
        write_text(base.with_suffix(".lmx"), lmx_line(tokens))
        write_text(base.with_suffix(".krn"), kern(bars, fifths))
        image = engrave_systems(musicxml, SCALE)[0]
        write_bytes(base.with_suffix(".jpg"), image_bytes(image, "JPEG", quality=90))
        distorted = image_bytes(scan_look(image, seed, angle=1.5), "JPEG", quality=75)
        damaged = ("distorted", sample) in DAMAGED
        write_bytes(base.parent / f"{base.name}_distorted.jpg", garbage(distorted) if damaged else distorted)
        composer, _, _, excerpt = sample.split("/")
        for config in expected:
            expected[config].append(ExpectedItem(id=sample, split=SPLIT_NAMES[split], lmx=" ".join(tokens), fields={
                "composer": composer, "transposition": excerpt.split("_m-")[0]}))
    for split, samples in listing.items():
        write_text(release / f"samples.{split}.txt", "".join(f"{s}\n" for s in samples))
    return [Fixture(config=config, items=items, damaged={s: why for (c, s), why in DAMAGED.items() if c == config})
            for config, items in expected.items()]
