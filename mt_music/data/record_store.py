"""Baked token records as NumPy shards: the TensorFlow-free store that accelerator hosts read.

The bake writes TFRecords (what the SeqIO tasks read); `tools/materialize_tokens.py` copies
them into `.npz` shards of the same records, one file per TFRecord shard, which `read` turns
back into the numpy dicts `token_records.read` gives — so `TranslationMixture` trains from
either, and a host with only JAX and NumPy needs nothing else. A shard is written to a
temporary name and renamed, so a reader never sees half of one. Texts are stored as unicode
arrays (no pickle: `np.load` runs with `allow_pickle=False`).
"""

from __future__ import annotations

import glob
import os
import pathlib
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from mt_music.errors import UserError

TEXT_FIELDS = ("id", "lmx", "metadata")
_SEPARATOR = "::"  # "<record index>::<field>" keys; field names hold "/" (notes/start)


def write_shard(records: Iterable[Mapping[str, Any]], path: str | os.PathLike) -> int:
    """Writes the records to one `.npz` file atomically; returns how many."""
    path = pathlib.Path(path)
    arrays, count = {}, 0
    for count, record in enumerate(records, start=1):
        for field, value in record.items():
            arrays[f"{count - 1}{_SEPARATOR}{field}"] = np.asarray(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as file:
        np.savez(file, **arrays)
    os.replace(partial, path)
    return count


def read_shard(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of one shard, in order."""
    try:
        with np.load(path, allow_pickle=False) as shard:
            records: dict[int, dict[str, Any]] = {}
            for key in shard.files:
                index, _, field = key.partition(_SEPARATOR)
                value = shard[key]
                records.setdefault(int(index), {})[field] = str(value) if field in TEXT_FIELDS else value
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise UserError(f"{path}: not a readable token-record shard ({error}); materialize it again") from error
    return [records[i] for i in sorted(records)]


def read(pattern: str) -> Iterator[dict[str, Any]]:
    """Records of every shard matching the glob `pattern`, shards in name order."""
    files = sorted(glob.glob(pattern))
    if not files:
        raise UserError(f"no token-record shards match {pattern}")
    for file in files:
        yield from read_shard(file)
