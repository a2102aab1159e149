"""Every dataset mt_music can read, by name: `olimpic/synthetic`, `maestro/v3`, …

A dataset is the `LAYOUT` of `mt_music.datasets.layouts.<name>`. Imported lazily: listing names costs
nothing, reading one imports its reader.
"""

from __future__ import annotations

import importlib
import pathlib

from mt_music.datasets.items import Layout, LayoutError

NAMES = ("olimpic", "grandstaff_lmx", "bpsd", "maestro", "musicnet_em", "slakh2100", "ytsv")


def layout(name: str) -> Layout:
    if name not in NAMES:
        raise LayoutError(f"unknown dataset {name!r}; known: {', '.join(NAMES)}")
    return importlib.import_module(f"mt_music.datasets.layouts.{name}").LAYOUT


def parse(spec: str) -> tuple[Layout, str]:
    """'name/config' (or a bare name: its first config) → (layout, config)."""
    name, _, config = spec.partition("/")
    found = layout(name)
    config = config or found.configs[0]
    if config not in found.configs:
        raise LayoutError(f"dataset {name} has no config {config!r}; known: {', '.join(found.configs)}")
    return found, config


def missing(name: str, root: str | pathlib.Path, config: str) -> list[tuple[str, str]]:
    """(id, reason) of the items the dataset lists whose files are not in `root`."""
    return layout(name).missing(root, config)


def is_dataset_spec(spec: str) -> bool:
    """Whether a config string names a real dataset (`name/config`) rather than an embedded-corpus config."""
    return spec.partition("/")[0] in NAMES
