"""What a translation gives back, per output modality, and how it is written to files.

    lmx    `Score`: LMX per system and one MusicXML of all systems joined → <name>.musicxml,
           <name>.lmx (one line per system)
    midi   `Performance`: the stitched notes → <name>.mid
    audio  `Sound`: the waveform (44.1 kHz mono) → <name>.wav
    image  `Engraving`: one image per system → <name>_system<N>.png
Every writer returns the paths it wrote. A file is written to a temporary name and renamed, so an
interrupted decode leaves no truncated output behind.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from mt_music.audio.io import SAMPLE_RATE
from mt_music.midi.notes import Note


@dataclasses.dataclass
class Score:
    systems: list[list[str]]  # LMX tokens per system
    musicxml: str
    problems: list[str]  # what delinearization repaired

    @classmethod
    def from_systems(cls, systems: list[list[str]]) -> Score:
        from mt_music.lmx.delinearize import delinearize

        result = delinearize([token for tokens in systems for token in tokens])
        return cls(systems, result.musicxml, list(result.problems))

    def write(self, stem: Path) -> list[Path]:
        lmx = "\n".join(" ".join(tokens) for tokens in self.systems) + "\n"
        return [_write_text(stem.with_suffix(".musicxml"), self.musicxml), _write_text(stem.with_suffix(".lmx"), lmx)]


@dataclasses.dataclass
class Performance:
    notes: list[Note]

    @property
    def seconds(self) -> float:
        return max((note.end for note in self.notes), default=0.0)

    def write(self, stem: Path) -> list[Path]:
        from mt_music.midi.notes import notes_to_pretty_midi

        path = stem.with_suffix(".mid")
        temporary = path.with_name(path.name + ".partial")
        notes_to_pretty_midi(self.notes).write(str(temporary))
        os.replace(temporary, path)
        return [path]


@dataclasses.dataclass
class Sound:
    waveform: np.ndarray

    @property
    def seconds(self) -> float:
        return len(self.waveform) / SAMPLE_RATE

    def write(self, stem: Path) -> list[Path]:
        import soundfile

        path = stem.with_suffix(".wav")
        temporary = path.with_name(path.name + ".partial")
        soundfile.write(str(temporary), np.clip(self.waveform, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16", format="WAV")
        os.replace(temporary, path)
        return [path]


@dataclasses.dataclass
class Engraving:
    images: list[np.ndarray]  # grayscale uint8 per system

    def write(self, stem: Path) -> list[Path]:
        from PIL import Image

        paths = []
        for index, image in enumerate(self.images):
            path = stem.with_name(f"{stem.name}_system{index + 1}.png")
            temporary = path.with_name(path.name + ".partial")
            Image.fromarray(image).save(temporary, format="PNG")
            os.replace(temporary, path)
            paths.append(path)
        return paths


def grid_pixels(codec, grid: np.ndarray) -> np.ndarray | None:
    """A generated system's pixels in [-1, 1], PAD codes (a cut-off last column) drawn as white paper;
    None for a grid with no codes. Evaluation and decoding draw generated images the same way."""
    from mt_music.image import grids

    grid = grids.trim_padding(np.asarray(grid))
    if not grid.size:
        return None
    pad = grid >= codec.codebook_size
    drawn = codec.decode_image(np.where(pad, 0, grid))
    blank = np.repeat(np.repeat(pad.any(axis=2), 16, axis=0), 16, axis=1)
    return np.where(blank, 1.0, drawn).astype(np.float32)


def _write_text(path: Path, text: str) -> Path:
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(text)
    os.replace(temporary, path)
    return path
