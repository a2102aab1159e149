"""Items → the records every mt_music dataset holds: the shared, resumable, parallel preparation step.

A layout's `Item` names files at the dataset's own scale and rate; `prepare_item` decodes them into what
the embedded corpus stores, so the codec bake and the tasks read any dataset the same way:
system images normalised to an 18 px staff (the corpus's preprocessing), LMX tokens (from the .lmx file or
linearized from the MusicXML), notes (MIDI with the sustain pedal applied, or per-stem programs), audio
as 44.1 kHz mono FLAC, cut to the item's span. `prepare_all` runs it over a config's items with a process
pool and keeps one file per item under `<data_dir>/mt_music_prepared/<name>/<config>/` (written
atomically), so an interrupted build resumes where it stopped; a failed item is recorded with its reason
and retried only on request. TF-free: `builders` turns the prepared items into a TFDS dataset.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pathlib
import pickle
import sys
import time

import numpy as np

from mt_music.data import distributed
from mt_music.datasets.items import Item, Layout

PREPARED_DIR = "mt_music_prepared"
NOTE_FIELDS = ("start", "end", "pitch", "velocity", "program", "is_drum")


class PreparationError(ValueError):
    """An item whose files cannot be turned into a record; the message says which file and why."""


# ------------------------------------------------------------------ one item


def read_notes(item: Item) -> list:
    """The item's notes (stems with their own programs, else its MIDI file; none when it has neither)."""
    from mt_music.midi.notes import read_midi_notes

    if item.stems:
        notes = []
        for stem in item.stems:
            notes += [dataclasses.replace(note, program=stem.program, is_drum=stem.is_drum)
                      for note in read_midi_notes(stem.midi, apply_sustain=item.apply_sustain)]
        return sorted(notes, key=lambda note: (note.start, note.pitch))
    if item.midi is None:
        return []
    return read_midi_notes(item.midi, apply_sustain=item.apply_sustain)


def cut_notes(notes: list, span: tuple[float, float] | None) -> list:
    """Notes sounding inside `span`, clipped to it, in seconds from its start (all of them when None)."""
    if span is None:
        return notes
    start, end = span
    return [dataclasses.replace(note, start=max(note.start, start) - start, end=min(note.end, end) - start)
            for note in notes if note.end > start and note.start < end and min(note.end, end) > max(note.start, start)]


def notes_columns(notes: list) -> dict:
    columns = {field: [getattr(note, field) for note in notes] for field in NOTE_FIELDS}
    dtypes = {"start": np.float32, "end": np.float32, "pitch": np.int32, "velocity": np.int32,
              "program": np.int32, "is_drum": np.bool_}
    return {field: np.asarray(values, dtypes[field]) for field, values in columns.items()}


def read_lmx(item: Item) -> str:
    """The item's LMX tokens, space-joined: its .lmx file, else its MusicXML linearized; "" without either."""
    from mt_music.lmx.errors import LmxError
    from mt_music.lmx.files import read_lmx_file
    from mt_music.lmx.linearize import linearize

    try:
        if item.lmx is not None:
            return " ".join(read_lmx_file(item.lmx))
        if item.musicxml is not None:
            return " ".join(linearize(str(item.musicxml)))
    except (LmxError, OSError, ValueError) as error:
        raise PreparationError(f"{item.lmx or item.musicxml}: {error}") from None
    return ""


def normalised_png(path: pathlib.Path) -> tuple[bytes, dict]:
    """PNG (gray) of the image at an 18 px staff height, as the corpus stores systems; and what was measured."""
    from PIL import Image

    from mt_music.image import pixels, preprocessing

    try:
        prepared = preprocessing.preprocess_score_image(path)
    except (OSError, ValueError, SyntaxError) as error:  # PIL's damaged-file errors, no staff found
        raise PreparationError(f"{path}: {' '.join(str(error).split()) or type(error).__name__}") from None
    height, width = prepared.content_shape
    gray = np.round(pixels.from_model_range(prepared.pixels[:height, :width])).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="PNG")
    return buffer.getvalue(), {"source_staff_height": round(float(prepared.source_staff_height), 3),
                               "scale": round(float(prepared.scale), 5)}


def read_audio(item: Item) -> np.ndarray:
    from mt_music import audio

    start, end = item.span if item.span is not None else (None, None)
    try:
        return audio.load_audio(item.audio, start_s=start, end_s=end, allow_silence=True)
    except audio.AudioError as error:
        raise PreparationError(str(error)) from None


def prepare_item(item: Item, layout: Layout) -> dict:
    """The record of one item (the corpus's feature names; see `builders`); PreparationError when it can't be."""
    from mt_music.audio.io import SAMPLE_RATE, encode_flac

    record = {"id": item.id, "split": item.split, "fields": dict(item.fields), "lmx": read_lmx(item),
              "span": item.span}
    try:
        notes = cut_notes(read_notes(item), item.span)
    except ValueError as error:  # MidiReadError names the file
        raise PreparationError(str(error)) from None
    record["notes"] = notes_columns(notes)
    waveform = read_audio(item) if item.audio is not None else np.zeros(0, np.float32)
    record.update(audio_flac=encode_flac(waveform) if waveform.size else b"", sample_rate=SAMPLE_RATE,
                  audio_samples=int(waveform.size), duration=waveform.size / SAMPLE_RATE)
    if layout.level == "system":
        if item.image is None:
            raise PreparationError(f"{item.id}: a system item needs an image")
        record["png"], record["image_scale"] = normalised_png(item.image)
    if "audio" in layout.modalities and not waveform.size:
        raise PreparationError(f"{item.id}: no audio ({item.audio})")
    return record


# ------------------------------------------------------------------ a whole config


def prepared_dir(data_dir: str | os.PathLike, name: str, config: str) -> pathlib.Path:
    return pathlib.Path(data_dir) / PREPARED_DIR / name / config


def item_stem(item_id: str) -> str:
    """A file name for an id (ids hold slashes): readable prefix + hash, so distinct ids never collide."""
    readable = "".join(c if c.isalnum() or c in "-_." else "_" for c in item_id)[-60:]
    return f"{readable}-{hashlib.sha1(item_id.encode()).hexdigest()[:10]}"


@dataclasses.dataclass
class PrepareResult:
    directory: pathlib.Path
    records: list[pathlib.Path]  # one pickle per prepared item, in item order
    failures: list[dict]  # {"id", "split", "reason"}
    summary: dict


def _write_atomic(path: pathlib.Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _prepare_one(args: tuple[Item, Layout, str]) -> tuple[str, str | None]:
    item, layout, out = args
    path = pathlib.Path(out)
    try:
        record = prepare_item(item, layout)
    except PreparationError as error:
        reason = " ".join(str(error).split())
        _write_atomic(path.with_suffix(".failed.json"), json.dumps({"id": item.id, "reason": reason}).encode())
        return item.id, reason
    info = {"id": item.id, "split": item.split, "duration": record["duration"], "notes": len(record["notes"]["pitch"])}
    _write_atomic(path.with_suffix(".info.json"), json.dumps(info).encode())  # what the summary reads
    _write_atomic(path, pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL))  # last: its presence means done
    path.with_suffix(".failed.json").unlink(missing_ok=True)
    return item.id, None


def prepare_all(layout: Layout, config: str, items: list[Item], data_dir: str | os.PathLike, *,
                workers: int | None = None, retry_failed: bool = False, progress: bool = True,
                missing: list[tuple[str, str]] = (), runner: str = distributed.LOCAL,
                beam_args: tuple[str, ...] = ()) -> PrepareResult:
    """Prepares every item not prepared yet (failed ones again only with `retry_failed`); resumable.
    `runner`: the local process pool, or a Beam runner (`mt_music.data.distributed`)."""
    started = time.perf_counter()
    out = prepared_dir(data_dir, layout.name, config)
    out.mkdir(parents=True, exist_ok=True)
    paths = {item.id: out / f"{item_stem(item.id)}.pkl" for item in items}
    todo = [item for item in items if not paths[item.id].exists()
            and (retry_failed or not paths[item.id].with_suffix(".failed.json").exists())]
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    if progress and len(items) > len(todo):
        print(f"{len(items) - len(todo)} of {len(items)} items prepared before", file=sys.stderr)
    jobs = [(item, layout, str(paths[item.id])) for item in todo]
    for _ in distributed.map_units(_prepare_one, jobs, runner=runner, workers=workers, beam_args=beam_args,
                                   progress=progress, description=f"prepare {layout.name}/{config}", unit="item"):
        pass
    failures = []
    for item in items:
        failed = paths[item.id].with_suffix(".failed.json")
        if not paths[item.id].exists() and failed.exists():
            failures.append({"id": item.id, "split": item.split, "reason": json.loads(failed.read_text())["reason"]})
    records = [paths[item.id] for item in items if paths[item.id].exists()]
    summary = summarize(layout, config, items, records, failures, missing, time.perf_counter() - started,
                        prepared_now=len(todo), workers=workers)
    _write_atomic(out / "summary.json", json.dumps(summary, indent=1).encode())
    return PrepareResult(out, records, failures, summary)


def read_record(path: pathlib.Path) -> dict:
    return pickle.loads(path.read_bytes())


def summarize(layout: Layout, config: str, items: list[Item], records: list[pathlib.Path], failures: list[dict],
              missing, seconds: float, prepared_now: int, workers: int) -> dict:
    """Items per split, hours of audio, failures and listed-but-missing files with their reasons."""
    splits: dict[str, dict] = {}
    for path in records:
        info = json.loads(path.with_suffix(".info.json").read_text())
        split = splits.setdefault(info["split"], {"items": 0, "hours": 0.0, "notes": 0})
        split["items"] += 1
        split["hours"] += info["duration"] / 3600
        split["notes"] += info["notes"]
    for split in splits.values():
        split["hours"] = round(split["hours"], 4)
    return {"dataset": f"{layout.name}/{config}", "listed": len(items), "prepared": len(records),
            "prepared_this_run": prepared_now, "workers": workers, "seconds": round(seconds, 1),
            "splits": splits, "failed": failures,
            "missing_files": [{"id": item_id, "reason": reason} for item_id, reason in missing]}


def format_summary(summary: dict) -> str:
    lines = [f"{summary['dataset']}: {summary['prepared']} of {summary['listed']} items prepared "
             f"({summary['prepared_this_run']} this run, {summary['seconds']} s)"]
    for name, split in sorted(summary["splits"].items()):
        lines.append(f"  {name}: {split['items']} items, {split['hours']:.3f} h of audio, {split['notes']} notes")
    for kind in ("failed", "missing_files"):
        if summary[kind]:
            lines.append(f"  {kind.replace('_', ' ')}: {len(summary[kind])}")
            lines += [f"    {entry['id']}: {entry['reason']}" for entry in summary[kind][:20]]
    return "\n".join(lines)
