"""MAESTRO v3.0.0 as published: piano performances (Disklavier MIDI with pedal) and their recordings.

Layout source: https://magenta.tensorflow.org/datasets/maestro — `maestro-v3.0.0.zip` unpacks to a
`maestro-v3.0.0/` folder holding `maestro-v3.0.0.csv`, `maestro-v3.0.0.json`, `LICENSE`, `README` and
the year folders (2004, 2006, 2008, 2009, 2011, 2013, 2014, 2015, 2017, 2018) of `<name>.midi` +
`<name>.wav` pairs (44.1–48 kHz 16-bit stereo WAV). The metadata columns are canonical_composer,
canonical_title, split (train / validation / test), year, midi_filename, audio_filename (both relative
to that folder, e.g. `2018/MIDI-Unprocessed_Chamber3_MID--AUDIO_10_R3_2018_wav--1.wav`) and duration.
The v3 JSON is pandas' column-oriented dump, `{column: {"0": value, "1": …}}` (v2's was a list of
records, see mir-dataset-loaders/mirdata tests/resources/mir_datasets/maestro/maestro-v2.0.0.json;
both are read). MT3 (magenta/mt3 mt3/datasets.py, MAESTROV3_CONFIG) uses these train/validation/test
splits as they are.

Decisions: the CSV wins when both metadata files are there (they hold the same rows); the JSON is read
only without it. An item's id is its audio file's stem (unique in MAESTRO); fields are composer
(canonical_composer), title (canonical_title), year and piece_id = the id: a piece here is one
performance (the evaluation groups a piece's windows by piece_id, so two performances of one composition
must not share it; composer + title name the composition, whose performances MAESTRO keeps in one
split). `apply_sustain` is on: the MIDI carries the pedal (control 64). Not used: the `duration`
column (the preparation measures the audio), LICENSE, README.
"""

from __future__ import annotations

import csv
import json
import pathlib

from mt_music.datasets import items

NAME = "maestro"
CONFIGS = ("v3",)
FOLDER = "maestro-v3.0.0"
CSV_NAME = "maestro-v3.0.0.csv"
JSON_NAME = "maestro-v3.0.0.json"
COLUMNS = ("canonical_composer", "canonical_title", "split", "year", "midi_filename", "audio_filename")
SPLITS = {"train": "train", "validation": "validation", "test": "test"}  # MAESTRO's names are ours

EXPECTED_LAYOUT = f"""\
<manual_dir>/{FOLDER}/            (maestro-v3.0.0.zip unpacked; or these files directly in <manual_dir>)
    {CSV_NAME}          and/or {JSON_NAME} (the CSV wins when both are there)
    2004/ 2006/ … 2018/
        <name>.midi                 (each metadata row's midi_filename)
        <name>.wav                  (each metadata row's audio_filename)"""


def dataset_dir(manual_dir: pathlib.Path) -> pathlib.Path:
    """The folder holding the metadata: `manual_dir` itself or its `maestro-v3.0.0/`."""
    for candidate in (manual_dir, manual_dir / FOLDER):
        if (candidate / CSV_NAME).is_file() or (candidate / JSON_NAME).is_file():
            return candidate
    raise items.LayoutError(f"{manual_dir / FOLDER / CSV_NAME} is missing (nor is there {JSON_NAME} beside it, "
                            f"or either file directly in {manual_dir}); expected {EXPECTED_LAYOUT}")


def read_rows(folder: pathlib.Path) -> tuple[pathlib.Path, list[dict]]:
    """The metadata file read and its rows (dicts over COLUMNS and any others)."""
    path = folder / CSV_NAME
    try:
        if path.is_file():
            with open(path, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                rows = list(reader)
                header = reader.fieldnames or []
        else:
            path = folder / JSON_NAME
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            rows = _json_rows(data)
            header = list(rows[0]) if rows else list(data) if isinstance(data, dict) else []
    except (OSError, UnicodeDecodeError, csv.Error, json.JSONDecodeError, TypeError, ValueError, KeyError) as error:
        raise items.LayoutError(f"{path}: unreadable MAESTRO metadata ({error}); expected {EXPECTED_LAYOUT}") from error
    absent = [column for column in COLUMNS if column not in header]
    if absent:
        raise items.LayoutError(f"{path}: no column {', '.join(absent)} (has {', '.join(map(str, header)) or 'none'}); "
                                f"expected MAESTRO's metadata in {EXPECTED_LAYOUT}")
    return path, rows


def _json_rows(data) -> list[dict]:
    if isinstance(data, list):  # v2: a list of records
        return [dict(record) for record in data]
    if not isinstance(data, dict):
        raise ValueError("neither a list of records nor a dict of columns")
    columns = {name: values for name, values in data.items() if isinstance(values, dict)}
    keys = sorted({key for values in columns.values() for key in values}, key=lambda key: (len(str(key)), str(key)))
    return [{name: values.get(key) for name, values in columns.items()} for key in keys]


def scan(root: pathlib.Path, config: str) -> tuple[list[items.Item], list[tuple[str, str]]]:
    """Every row whose files exist as an Item, and (id, reason) for every row left out."""
    folder = dataset_dir(root)
    metadata, rows = read_rows(folder)
    found: dict[str, items.Item] = {}
    left_out: list[tuple[str, str]] = []
    for number, row in enumerate(rows):
        audio_name = str(row.get("audio_filename") or "").strip()
        midi_name = str(row.get("midi_filename") or "").strip()
        item_id = pathlib.PurePosixPath(audio_name).stem or f"{metadata.name}:row{number + 1}"
        split = SPLITS.get(str(row.get("split") or "").strip())
        audio, midi = folder / audio_name, folder / midi_name
        if split is None:
            reason = f"unknown split {row.get('split')!r} in {metadata.name} (known: {', '.join(SPLITS)})"
        elif not audio_name or not midi_name:
            reason = f"row {number + 1} of {metadata.name} names no audio or MIDI file"
        elif item_id in found:
            reason = f"a second row with audio file name {pathlib.PurePosixPath(audio_name).name}"
        elif not audio.is_file():
            reason = f"no audio file {audio}"
        elif not midi.is_file():
            reason = f"no MIDI file {midi}"
        else:
            composer = str(row.get("canonical_composer") or "").strip()
            title = str(row.get("canonical_title") or "").strip()
            found[item_id] = items.Item(
                id=item_id, split=split, audio=audio, midi=midi, apply_sustain=True,
                fields={"composer": composer, "title": title, "year": _year(row.get("year")),
                        "piece_id": item_id})
            continue
        left_out.append((item_id, reason))
    return sorted(found.values(), key=lambda item: item.id), left_out


def _year(value) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


LAYOUT = items.Layout(
    name=NAME,
    configs=CONFIGS,
    level="piece",
    modalities=("midi", "audio"),
    description="MAESTRO v3.0.0: about 200 hours of virtuosic piano performances recorded on Yamaha Disklaviers, "
                "MIDI (with pedal) aligned to the audio within about 3 ms.",
    homepage="https://magenta.tensorflow.org/datasets/maestro",
    citation="""@inproceedings{hawthorne2018enabling,
  title={Enabling Factorized Piano Music Modeling and Generation with the {MAESTRO} Dataset},
  author={Curtis Hawthorne and Andriy Stasyuk and Adam Roberts and Ian Simon and Cheng-Zhi Anna Huang and
          Sander Dieleman and Erich Elsen and Jesse Engel and Douglas Eck},
  booktitle={International Conference on Learning Representations},
  year={2019},
  url={https://openreview.net/forum?id=r1lYRjC9F7}
}""",
    expected_layout=EXPECTED_LAYOUT,
    scan=scan,
)
