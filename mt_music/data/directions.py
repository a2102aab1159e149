"""The twelve translation directions and the per-modality length limits, in one table each.

Every directed pair of the four modalities is a direction, named `<source>2<target>` (`image2lmx`,
`audio2midi`, …) so that a task name can be guessed: `mt_music_corpus_small_image2lmx`. Six are the
published system's core translations (their field names in `CORE`); the other six (image↔MIDI,
LMX↔MIDI, LMX↔audio) are where the all-directions model goes beyond it. TensorFlow-free.
"""

from __future__ import annotations

import dataclasses
import itertools

from mt_music.errors import UserError
from mt_music.vocabulary import Modality

MODALITY_ORDER = (Modality.IMAGE, Modality.LMX, Modality.MIDI, Modality.AUDIO)


@dataclasses.dataclass(frozen=True)
class Direction:
    source: Modality
    target: Modality

    @property
    def name(self) -> str:
        return f"{self.source.name.lower()}2{self.target.name.lower()}"

    @classmethod
    def parse(cls, name: str) -> Direction:
        """'image2lmx' (or 'image->lmx') → Direction; UserError listing the twelve otherwise."""
        source, sep, target = name.replace("->", "2").partition("2")
        try:
            direction = cls(Modality.parse(source), Modality.parse(target))
        except ValueError:
            direction = None
        if not sep or direction is None or direction.source == direction.target:
            raise UserError(f"unknown direction {name!r}; the directions are {', '.join(d.name for d in ALL)}")
        return direction

    def __str__(self) -> str:
        return self.name


ALL = tuple(Direction(s, t) for s, t in itertools.permutations(MODALITY_ORDER, 2))

CORE = {"image2lmx": "OMR", "lmx2image": "engraving", "audio2midi": "AMT", "midi2audio": "synthesis",
        "image2audio": "image-to-audio", "audio2image": "audio-to-image"}


@dataclasses.dataclass(frozen=True)
class LengthLimits:
    """The most frames a sequence of each modality may have, EOS / height / SEP frames included.

    Image 26 rows × 150 columns and audio 1750 frames (20.3 s) are the published limits; LMX and
    MIDI have none published, so these are the corpus's longest systems with room to spare.
    Examples over a limit are counted and reported by the tasks, never cut."""

    lmx: int = 1024
    midi: int = 1024
    image: int = 26 * 150 + 2
    audio: int = 1750 + 1

    def __post_init__(self):
        for field in dataclasses.fields(self):
            if getattr(self, field.name) < 2:
                raise UserError(f"LengthLimits.{field.name} = {getattr(self, field.name)}: must be ≥ 2 frames")

    def of(self, modality: Modality) -> int:
        return getattr(self, modality.name.lower())
