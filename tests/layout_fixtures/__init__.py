"""Writers of small dataset fixtures in each published dataset's real on-disk layout.

Each module `tests/layout_fixtures/<layout name>.py` has `write(root: pathlib.Path) -> list[Fixture]` (one per config): it writes
a miniature of the dataset under `root` exactly as the dataset ships (file names, folders, metadata and
split files; its docstring says where the layout comes from) and returns what a reader must find there.
The builder test (`tests/test_dataset_builders.py`) builds every layout's fixture with TFDS and checks
the records against this.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class ExpectedItem:
    id: str
    split: str
    lmx: str | None = None  # the LMX tokens (space-joined) a system item must carry
    num_notes: int | None = None  # notes the item's MIDI / labels hold (after the item's span cut)
    programs: tuple[int, ...] | None = None  # sorted distinct programs of those notes
    duration: float | None = None  # seconds of audio (±0.05 s)
    fields: dict = dataclasses.field(default_factory=dict)  # metadata values the record must carry


@dataclasses.dataclass
class Fixture:
    config: str
    items: list[ExpectedItem]  # every item the config's reader must list, in any order
    damaged: dict[str, str] = dataclasses.field(default_factory=dict)  # item id → why preparation must fail
