"""OLiMPiC 1.0 in miniature: both releases as they unpack (`olimpic-1.0-synthetic/`, `olimpic-1.0-scanned/`).

Layout from https://github.com/ufal/olimpic-icdar24 (app/datasets/transfer_samples.py, build_dataset_index.py,
the `tar-dataset` commands and the Makefile's install targets; see mt_music/datasets/layouts/olimpic.py):
`samples/<score id>/p<page>-s<system>.{png,lmx,musicxml}`, `samples.<split>.txt` listing base paths,
`statistics.<split>.yaml`, `vocabulary.txt`. Score ids are real OpenScore Lieder ids of each split
(app/datasets/splits/data/*_scores.yaml). The system MusicXML/LMX pairs are real OLiMPiC linearizer test pairs
(tests/data/olimpic_lmx, MIT, © 2024 Jiří Mayer; the licence is copied next to them); .lmx files are written as
the release writes them, one line of tokens. PNGs are verovio engravings of that MusicXML (synthetic: scale 35,
scanned: scale 45 on a grey, noisy "scan"), not the corpus's scale 25. One synthetic test PNG is truncated
garbage (damaged); the scanned release also holds the LMX/MusicXML of a system that has no scan (not listed).

Also the shared engraving helpers of the other system-level fixtures (grandstaff_lmx, bpsd).
"""

from __future__ import annotations

import io
import pathlib
import shutil

import numpy as np
from PIL import Image, ImageFilter

from mt_music.image import engraving
from mt_music.lmx.files import read_lmx_file

from . import ExpectedItem, Fixture

REFERENCE = pathlib.Path(__file__).resolve().parent.parent / "data" / "olimpic_lmx"

# (config, split, sample, reference pair) — the synthetic and scanned copies of a system share its LMX
SAMPLES = [
    ("synthetic", "train", "samples/6583477/p1-s1", "basics/grandstaff"),
    ("synthetic", "train", "samples/6583477/p1-s2", "basics/note_types"),
    ("synthetic", "dev", "samples/6583512/p1-s1", "tuplets/simple_2345"),
    ("synthetic", "test", "samples/6586696/p1-s1", "tuplets/simple_67"),
    ("synthetic", "test", "samples/6302395/p1-s1", "tuplets/simple_89"),  # its PNG is damaged
    ("scanned", "dev", "samples/6583512/p1-s1", "tuplets/simple_2345"),
    ("scanned", "test", "samples/6586696/p1-s1", "tuplets/simple_67"),
    ("scanned", "test", "samples/6586696/p1-s2", "basics/one_empty_measure"),
]
DAMAGED = {("synthetic", "samples/6302395/p1-s1"): "the PNG is truncated garbage"}
UNSCANNED = ("scanned", "samples/6586696/p2-s1", "basics/grandstaff")  # LMX + MusicXML only, not listed
SCALE = {"synthetic": 35, "scanned": 45}
SPLIT_NAMES = {"train": "train", "dev": "validation", "test": "test"}


# ---------------------------------------------------------------------------------- shared helpers
def engrave_systems(musicxml: str | pathlib.Path, scale: int, page_width: int = 2100) -> list[Image.Image]:
    """One grayscale crop per system (verovio keeps the encoded system breaks, one system per page)."""
    options = engraving.EngravingOptions(scale=scale, page_width=page_width, extra={"breaks": "line"})
    return [ink_crop(page.image) for page in engraving.engrave(musicxml, options)]


def ink_crop(image: Image.Image, margin: int = 12) -> Image.Image:
    """The image cut to its ink's bounding box plus a white margin (datasets ship system crops)."""
    ink = np.asarray(image.convert("L")) < 160
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if not len(rows):
        return image
    box = (max(cols[0] - margin, 0), max(rows[0] - margin, 0), min(cols[-1] + margin + 1, image.width),
           min(rows[-1] + margin + 1, image.height))
    return image.crop(box)


def scan_look(image: Image.Image, seed: int, angle: float = 0.4) -> Image.Image:
    """A printed-and-scanned look: slightly rotated, blurred, grey paper, sensor noise."""
    rotated = image.convert("L").rotate(angle, resample=Image.BILINEAR, expand=True, fillcolor=255)
    pixels = np.asarray(rotated.filter(ImageFilter.GaussianBlur(0.7)), dtype=np.float32)
    pixels = 30.0 + pixels * (205.0 / 255.0) + np.random.default_rng(seed).normal(0.0, 6.0, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def image_bytes(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def garbage(valid: bytes, keep: int = 48) -> bytes:
    """A file that starts like `valid` (the first `keep` bytes of its header) and then turns into noise."""
    return valid[:keep] + bytes(np.random.default_rng(len(valid)).integers(0, 256, 64, dtype=np.uint8))


def write_text(path: pathlib.Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_bytes(path: pathlib.Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def lmx_line(tokens: list[str]) -> str:
    """An .lmx file as OLiMPiC writes it: the tokens on one line."""
    return " ".join(tokens) + "\n"


QUARTERS = {"whole": 4, "half": 2, "quarter": 1}
Bar = tuple[list[tuple[str, str]], list[tuple[str, str]]]  # (treble, bass) notes: ("F#4" | "r", "half"), …


def _note_xml(pitch: str, kind: str, voice: int, staff: int) -> str:
    if pitch == "r":
        sound = "<rest/>"
    else:
        step, octave, accidental = pitch[0], pitch[-1], pitch[1:-1]
        alter = {"#": "<alter>1</alter>", "b": "<alter>-1</alter>"}.get(accidental, "")
        sound = f"<pitch><step>{step}</step>{alter}<octave>{octave}</octave></pitch>"
    return (f"<note>{sound}<duration>{QUARTERS[kind]}</duration><voice>{voice}</voice><type>{kind}</type>"
            f"<staff>{staff}</staff></note>")


def piano_musicxml(bars: list[Bar], fifths: int = 0, system_starts: tuple[int, ...] = (0,), first_number: int = 1,
                   title: str = "") -> str:
    """A one-part, two-staff piano score in 4/4 (divisions 1), with system breaks before `system_starts` bars."""
    measures = []
    for index, (treble, bass) in enumerate(bars):
        parts = []
        if index in system_starts and index > 0:
            parts.append('<print new-system="yes"/>')
        if index == 0:
            parts.append(f"<attributes><divisions>1</divisions><key><fifths>{fifths}</fifths></key><time><beats>4"
                         "</beats><beat-type>4</beat-type></time><staves>2</staves><clef number=\"1\"><sign>G</sign>"
                         "<line>2</line></clef><clef number=\"2\"><sign>F</sign><line>4</line></clef></attributes>")
        parts += [_note_xml(pitch, kind, 1, 1) for pitch, kind in treble]
        parts.append("<backup><duration>4</duration></backup>")
        parts += [_note_xml(pitch, kind, 5, 2) for pitch, kind in bass]
        measures.append(f'<measure number="{first_number + index}">{"".join(parts)}</measure>')
    return ('<?xml version="1.0" encoding="utf-8"?><score-partwise version="3.1">'
            f'<work><work-title>{title}</work-title></work><part-list><score-part id="P1"><part-name print-object="no">Piano'
            '</part-name>'
            f'</score-part></part-list><part id="P1">{"".join(measures)}</part></score-partwise>\n')


# ---------------------------------------------------------------------------------- the fixture
def _write_system(release: pathlib.Path, sample: str, reference: str, scale: int, seed: int | None,
                  damaged: bool = False) -> str:
    musicxml = REFERENCE / f"{reference}.xml"
    tokens = read_lmx_file(REFERENCE / f"{reference}.lmx")
    base = release / sample
    write_text(base.with_suffix(".lmx"), lmx_line(tokens))
    shutil.copyfile(musicxml, base.with_suffix(".musicxml"))
    image = engrave_systems(musicxml, scale)[0]
    if seed is not None:
        image = scan_look(image, seed)
    png = image_bytes(image, "PNG")
    write_bytes(base.with_suffix(".png"), garbage(png) if damaged else png)
    return " ".join(tokens)


def write(root: pathlib.Path) -> list[Fixture]:
    root = pathlib.Path(root)
    fixtures = []
    for config in ("synthetic", "scanned"):
        release = root / f"olimpic-1.0-{config}"
        expected, listing = [], {}
        for seed, (sample_config, split, sample, reference) in enumerate(SAMPLES):
            if sample_config != config:
                continue
            lmx = _write_system(release, sample, reference, SCALE[config], seed if config == "scanned" else None,
                                damaged=(config, sample) in DAMAGED)
            listing.setdefault(split, []).append(sample)
            score, system = sample.split("/")[1], sample.split("/")[2]
            expected.append(ExpectedItem(id=sample, split=SPLIT_NAMES[split], lmx=lmx, fields={
                "score_id": score, "page": int(system[1:system.index("-")]), "system": int(system.split("-s")[1])}))
        if config == UNSCANNED[0]:
            base = release / UNSCANNED[1]
            write_text(base.with_suffix(".lmx"), lmx_line(read_lmx_file(REFERENCE / f"{UNSCANNED[2]}.lmx")))
            shutil.copyfile(REFERENCE / f"{UNSCANNED[2]}.xml", base.with_suffix(".musicxml"))
        for split, samples in listing.items():
            write_text(release / f"samples.{split}.txt", "".join(f"{s}\n" for s in samples))
            scores = {s.split("/")[1] for s in samples}
            write_text(release / f"statistics.{split}.yaml", f"samples: {len(samples)}\nscores: {len(scores)}\n")
        write_text(release / "vocabulary.txt", "measure\nbackup\nforward\nchord\nclef:G2\nclef:F4\nstaff:1\nstaff:2\n")
        shutil.copyfile(REFERENCE / "LICENSE.txt", release / "LICENSE.txt")  # of the copied test pairs
        fixtures.append(Fixture(config=config, items=expected,
                                damaged={s: why for (c, s), why in DAMAGED.items() if c == config}))
    return fixtures
