"""What a dataset's layout reader yields: one `Item` per example, naming its files before anything is decoded.

Every published dataset (OLiMPiC, GrandStaff-LMX, MAESTRO, MusicNet-EM, Slakh2100, BPSD) is read from
the directory a user downloaded (TFDS's `manual_dir`). A `Layout` knows that directory's published
structure — file names, folders, metadata and split files — and lists its items; the shared preparation
(`mt_music.datasets.prepare`) decodes them into the records the corpus has (normalised system image,
LMX, notes, 44.1 kHz mono audio), so the codec bake and the tasks read every dataset the same way.
TF-free: the TFDS builders over these live in `mt_music.datasets.builders`.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable

from absl import logging

from mt_music.errors import UserError

SPLITS = ("train", "validation", "test")
LEVELS = ("system", "piece")  # "system": a score image's system (+ its text / audio); "piece": a recording
LOGGED = 20  # left-out items named one by one in the log; the rest are counted


@dataclasses.dataclass(frozen=True)
class Stem:
    """One instrument's MIDI file of a multitrack item, with the program and drum flag its audio was made with
    (Slakh2100's metadata.yaml; a stem MIDI's own program changes may name another instrument)."""

    midi: pathlib.Path
    program: int
    is_drum: bool = False


class LayoutError(UserError):
    """The manual directory is missing, incomplete or not in the dataset's published layout."""


@dataclasses.dataclass(frozen=True)
class Item:
    """One example's files. Paths are absolute; a field that the dataset does not have stays None."""

    id: str  # unique in its config and stable across runs (it names the item's cache file)
    split: str  # one of SPLITS
    image: pathlib.Path | None = None  # a system image, any format PIL reads, at the dataset's own scale
    lmx: pathlib.Path | None = None  # LMX text (OLiMPiC's .lmx files)
    musicxml: pathlib.Path | None = None  # .musicxml / .xml / .mxl
    audio: pathlib.Path | None = None  # a recording, any format mt_music.audio.load_audio reads
    midi: pathlib.Path | None = None  # the notes (performance or label MIDI), programs as the file says
    stems: tuple[Stem, ...] = ()  # instead of `midi`: per-instrument MIDI files with their programs
    span: tuple[float, float] | None = None  # seconds of `audio` / `midi` the item covers (None: all of it)
    apply_sustain: bool = True  # extend notes by the sustain pedal (MAESTRO); off for labels without pedal
    fields: dict = dataclasses.field(default_factory=dict)  # piece_id, title, composer, collection, …; JSON-able


@dataclasses.dataclass(frozen=True)
class Layout:
    """A dataset as published: its TFDS name, configs, level, and the reader of its manual directory."""

    name: str  # TFDS dataset name (snake_case), also the task-name prefix: "<name>_<config>"
    configs: tuple[str, ...]  # e.g. ("synthetic", "scanned"); at least one
    level: str  # one of LEVELS
    modalities: tuple[str, ...]  # of "image", "lmx", "midi", "audio": what its records hold
    description: str
    homepage: str
    citation: str
    expected_layout: str  # the directory tree a user must have (shown in errors and TFDS's instructions)
    # (manual_dir, config) → (items, (id, reason) of the listed examples left out); LayoutError if not the layout
    scan: Callable[[pathlib.Path, str], tuple[list[Item], list[tuple[str, str]]]]

    def items(self, manual_dir: str | pathlib.Path, config: str) -> list[Item]:
        """The config's items; a LayoutError naming the expected layout when the directory is not it."""
        root = self._root(manual_dir, config)
        found, left_out = self.scan(root, config)
        for item_id, reason in left_out[:LOGGED]:
            logging.warning("%s/%s: left out %s: %s", self.name, config, item_id, reason)
        if len(left_out) > LOGGED:
            logging.warning("%s/%s: left out %d more (see missing())", self.name, config, len(left_out) - LOGGED)
        if not found:
            raise LayoutError(f"{root}: no {self.name}/{config} examples found; expected {self.expected_layout}")
        return found

    def missing(self, manual_dir: str | pathlib.Path, config: str) -> list[tuple[str, str]]:
        """(id, reason) of the listed examples `items` leaves out: files absent, listed twice, …"""
        return self.scan(self._root(manual_dir, config), config)[1]

    def _root(self, manual_dir: str | pathlib.Path, config: str) -> pathlib.Path:
        root = pathlib.Path(manual_dir).expanduser()
        if config not in self.configs:
            raise LayoutError(f"{self.name} has no config {config!r} (known: {', '.join(self.configs)})")
        if not root.is_dir():
            raise LayoutError(f"{root}: no such directory; {self.name} expects the folder you downloaded, laid out "
                              f"as {self.expected_layout}")
        return root


def require(path: pathlib.Path, layout: str) -> pathlib.Path:
    """`path` if it exists, else a LayoutError that names it and the expected layout."""
    if not path.exists():
        raise LayoutError(f"{path} is missing; expected {layout}")
    return path
