"""BPSD v2 in miniature: the unzipped `Beethoven_Piano_Sonata_Dataset_v2/` plus the user's `bpsd_systems/`.

BPSD's part follows its Zenodo archive (https://zenodo.org/records/12783403) as its build scripts
(https://github.com/groupmm/BPSD_scripts) and users' loaders name it: `1_Audio/Beethoven_<piece>_<performer>.wav`
(22.05 kHz mono 16-bit), `2_Annotations/ann_audio_measure/Beethoven_<piece>_<performer>.csv` (`time;measure`, the
last row the end, here once fractional), `0_RawData/score_xml_unfolded/Beethoven_<piece>.xml` and
`0_RawData/score_pdf_scan/Beethoven_<piece>.pdf`; measure annotations exist for performances whose audio BPSD does
not ship (WK64, VA81 here) and yield no item. `bpsd_systems/` is what BPSD lacks and a user supplies (see
mt_music/datasets/layouts/bpsd.py): `systems.csv` and per system a scan-like verovio crop (scale 55) with its
LMX (`.lmx`, mt_music's linearization of that system) or its own `.musicxml`. The music is a tiny made-up piano
score per piece, the audio plain decaying sines at each performer's tempo. FG58's recording of Op049No2-01 is
truncated garbage (damaged).
"""

from __future__ import annotations

import io
import pathlib
import wave

import numpy as np

from mt_music.lmx.linearize import linearize

from . import ExpectedItem, Fixture
from .olimpic import (
    QUARTERS,
    engrave_systems,
    garbage,
    image_bytes,
    lmx_line,
    piano_musicxml,
    scan_look,
    write_bytes,
    write_text,
)

DATASET = "Beethoven_Piano_Sonata_Dataset_v2"
RATE = 22050
SCALE = 55
OFFSET = 0.5  # s of silence before the first bar
PIECES = {  # piece → (bars, system start bars (0-based), image format, notation, end-row measure)
    "Op002No3-01": ([
        ([("C5", "half"), ("E5", "half")], [("C3", "whole")]),
        ([("G5", "quarter"), ("E5", "quarter"), ("C5", "half")], [("G2", "half"), ("C3", "half")]),
        ([("D5", "whole")], [("G3", "quarter"), ("F3", "quarter"), ("E3", "quarter"), ("D3", "quarter")]),
        ([("C5", "whole")], [("C3", "whole")]),
    ], (0, 2), "PNG", ".lmx", 5.0),
    "Op049No2-01": ([
        ([("G4", "quarter"), ("B4", "quarter"), ("D5", "half")], [("G2", "whole")]),
        ([("C5", "half"), ("A4", "half")], [("D3", "whole")]),
        ([("G4", "whole")], [("G2", "whole")]),
    ], (0,), "JPEG", ".musicxml", 3.75),
}
RECORDINGS = {("Op002No3-01", "AS35"): 2.0, ("Op049No2-01", "AS35"): 1.6, ("Op049No2-01", "FG58"): 1.4}  # s per bar
UNRECORDED = {("Op002No3-01", "WK64"): 1.9, ("Op049No2-01", "VA81"): 1.5}  # annotations without audio
DAMAGED_AUDIO = {("Op049No2-01", "FG58")}


def _frequency(pitch: str) -> float:
    semitone = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}[pitch[0]] + {"#": 1, "b": -1}.get(pitch[1:-1], 0)
    return 440.0 * 2.0 ** ((semitone + 12 * (int(pitch[-1]) + 1) - 69) / 12.0)


def _audio(bars, seconds_per_bar: float, end_measure: float) -> bytes:
    """16-bit mono WAV: each note a decaying sine at its onset, bar n starting at OFFSET + (n-1)·seconds_per_bar."""
    total = OFFSET + (end_measure - 1.0) * seconds_per_bar + 0.5
    signal = np.zeros(int(total * RATE), dtype=np.float32)
    for index, staves in enumerate(bars):
        for notes in staves:
            onset = OFFSET + index * seconds_per_bar
            for pitch, kind in notes:
                length = QUARTERS[kind] / 4 * seconds_per_bar
                if pitch != "r":
                    t = np.arange(int(length * RATE)) / RATE
                    start = int(onset * RATE)
                    tone = 0.2 * np.sin(2 * np.pi * _frequency(pitch) * t) * np.exp(-3.0 * t)
                    signal[start: start + len(tone)] += tone[: len(signal) - start]
                onset += length
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def _measures_csv(bars: int, seconds_per_bar: float, end_measure: float) -> str:
    rows = [(OFFSET + (n - 1) * seconds_per_bar, f"{n}") for n in range(1, bars + 1)]
    rows.append((OFFSET + (end_measure - 1.0) * seconds_per_bar, f"{end_measure:g}"))
    return "time;measure\n" + "".join(f"{time:07.3f};{measure}\n" for time, measure in rows)


def write(root: pathlib.Path) -> list[Fixture]:
    root = pathlib.Path(root)
    dataset, systems_dir = root / DATASET, root / "bpsd_systems"
    rows, expected, damaged = ["piece;page;system;measure_start;measure_end"], [], {}
    for seed, (piece, (bars, starts, image_format, notation, end_measure)) in enumerate(PIECES.items()):
        name = f"Beethoven_{piece}"
        score = piano_musicxml(bars, system_starts=starts, title=name)
        write_text(dataset / "0_RawData" / "score_xml_unfolded" / f"{name}.xml", score)
        images = [scan_look(image, seed + index) for index, image in enumerate(engrave_systems(score, SCALE))]
        if len(images) != len(starts):
            raise RuntimeError(f"{name} engraved onto {len(images)} systems, not {len(starts)}")
        pdf = image_bytes(images[0], "PDF", save_all=True, append_images=images[1:], resolution=150.0)
        write_bytes(dataset / "0_RawData" / "score_pdf_scan" / f"{name}.pdf", pdf)
        for performer_bars, audio in ((RECORDINGS, True), (UNRECORDED, False)):
            for (recorded_piece, performer), seconds in performer_bars.items():
                if recorded_piece != piece:
                    continue
                csv = _measures_csv(len(bars), seconds, end_measure)
                write_text(dataset / "2_Annotations" / "ann_audio_measure" / f"{name}_{performer}.csv", csv)
                if audio:
                    wav = _audio(bars, seconds, end_measure)
                    broken = (piece, performer) in DAMAGED_AUDIO
                    write_bytes(dataset / "1_Audio" / f"{name}_{performer}.wav", garbage(wav, 12) if broken else wav)
        for system, (first, image) in enumerate(zip(starts, images)):
            last = (starts[system + 1] if system + 1 < len(starts) else len(bars)) - 1
            rows.append(f"{piece};0;{system};{first + 1};{last + 1}")
            stem = systems_dir / name / f"{name}@0000_{system}"
            write_bytes(stem.with_suffix(".png" if image_format == "PNG" else ".jpg"), image_bytes(image, image_format))
            if notation == ".lmx":
                tokens = linearize(score, system=system)
                write_text(stem.with_suffix(".lmx"), lmx_line(tokens))
            else:
                system_score = piano_musicxml(bars[first: last + 1], first_number=first + 1)
                tokens = linearize(system_score)
                write_text(stem.with_suffix(".musicxml"), system_score)
            for (recorded_piece, performer), seconds in RECORDINGS.items():
                if recorded_piece != piece:
                    continue
                item_id = f"{name}@0000_{system}/{performer}"
                end = min(last + 1.0, end_measure - 1.0)  # bars after the system's first one, to its end
                expected.append(ExpectedItem(id=item_id, split="test", lmx=" ".join(tokens),
                                             duration=(end - first) * seconds, fields={
                                                 "piece": piece, "performer": performer, "page": 0, "system": system,
                                                 "measure_start": first + 1, "measure_end": last + 1}))
                if (piece, performer) in DAMAGED_AUDIO:
                    damaged[item_id] = f"{name}_{performer}.wav is truncated garbage"
    write_text(systems_dir / "systems.csv", "\n".join(rows) + "\n")
    return [Fixture(config="scanned", items=expected, damaged=damaged)]
