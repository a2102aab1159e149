"""A contact sheet of corpus examples: system image, caption, LMX, piano roll and audio envelope per row.

Rows put the four modalities of one system on one time axis, so a person can see that they describe
the same music; `tools/contact_sheet.py` is the command line.
"""

from __future__ import annotations

import io
import json
import pathlib
import textwrap

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mt_music.audio.io import decode_flac
from mt_music.corpus import build
from mt_music.corpus.examples import notes_from_columns

WIDTH = 1800
ROLL_HEIGHT = 150
ENVELOPE_HEIGHT = 40
MARGIN = 12


def _font(size: int) -> ImageFont.ImageFont:
    for path in ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
                 "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf"):
        if pathlib.Path(path).exists():
            return ImageFont.truetype(path, size)
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def examples_from_shards(paths: list[pathlib.Path], split: str | None, count: int) -> list[dict]:
    chosen = []
    for path in paths:
        meta = build.read_shard_meta(path)
        if split and meta["split"] != split:
            continue
        _, systems = build.read_shard(path)
        chosen.extend(systems[:2])  # at most two systems per piece, for variety
        if len(chosen) >= count:
            break
    return chosen[:count]


def examples_from_tfds(config: str, data_dir: pathlib.Path, split: str, count: int) -> list[dict]:
    from mt_music.corpus import tfds_builder

    dataset = tfds_builder.builder(config, data_dir).as_dataset(split=split)
    chosen = []
    for example in dataset.take(count).as_numpy_iterator():
        metadata = json.loads(example["metadata"].decode())
        buffer = io.BytesIO()
        Image.fromarray(example["image"][..., 0]).save(buffer, format="PNG")
        notes = {k: example["notes"][k].tolist() for k in example["notes"]}
        chosen.append({
            "id": example["id"].decode(), "lmx": example["lmx"].decode(), "notes": notes,
            "span_start": float(example["span"][0]), "span_end": float(example["span"][1]),
            "_png": buffer.getvalue(), "_flac": bytes(example["audio_flac"]), **metadata,
        })
    return chosen


def piano_roll(example: dict, width: int, tail: float) -> Image.Image:
    length = example["span_end"] - example["span_start"] + tail
    notes = notes_from_columns(example["notes"])
    roll = Image.new("RGB", (width, ROLL_HEIGHT + ENVELOPE_HEIGHT), "white")
    draw = ImageDraw.Draw(roll)
    low = min((n.pitch for n in notes), default=60) - 2
    high = max((n.pitch for n in notes), default=72) + 2
    span = max(high - low, 12)
    row = ROLL_HEIGHT / span
    x_of = lambda t: int(t / length * (width - 1))  # noqa: E731
    for octave_c in range(low - low % 12, high + 1, 12):  # C lines
        y = ROLL_HEIGHT - (octave_c - low) * row
        draw.line([(0, y), (width, y)], fill=(225, 225, 235))
    span_x = x_of(example["span_end"] - example["span_start"])
    draw.line([(span_x, 0), (span_x, ROLL_HEIGHT + ENVELOPE_HEIGHT)], fill=(220, 120, 120))
    for note in notes:
        y = ROLL_HEIGHT - (note.pitch - low + 1) * row
        shade = int(200 - 160 * note.velocity / 127)
        draw.rectangle([x_of(note.start), y, max(x_of(note.end) - 1, x_of(note.start) + 1), y + max(row - 1, 1)],
                       fill=(shade, shade, 255), outline=(20, 20, 120))
    waveform, rate = decode_flac(example["_flac"])
    if waveform.size:
        hop = max(1, int(len(waveform) / width))
        frames = np.abs(waveform[: hop * (len(waveform) // hop)]).reshape(-1, hop).max(axis=1)
        for x, value in enumerate(frames[:width]):
            half = value * (ENVELOPE_HEIGHT / 2 - 1)
            middle = ROLL_HEIGHT + ENVELOPE_HEIGHT / 2
            draw.line([(x, middle - half), (x, middle + half)], fill=(60, 140, 60))
    return roll


def contact_sheet(examples: list[dict], tail: float = 1.0) -> Image.Image:
    caption_font, lmx_font = _font(15), _font(12)
    rows = []
    for example in examples:
        with Image.open(io.BytesIO(example["_png"])) as image:
            system = image.convert("RGB")
        augmentation = json.loads(example.get("augmentation", "{}"))
        caption = (f"{example['id']}  span {example['span_start']:.2f}-{example['span_end']:.2f} s  "
                   f"tempo {example.get('tempo_qpm', '?')} qpm  {example.get('soundfont', '?')}  "
                   f"{example.get('font', '?')}  transpose {example.get('transpose_applied', 0):+d}  "
                   f"velocity sigma {augmentation.get('velocity_sigma', 0)}  "
                   f"image {system.width}x{system.height}  {len(example['lmx'].split())} LMX tokens")
        lmx_lines = textwrap.wrap(example["lmx"], width=int((WIDTH - 2 * MARGIN) / 7.3))[:6]
        if len(textwrap.wrap(example["lmx"], width=int((WIDTH - 2 * MARGIN) / 7.3))) > 6:
            lmx_lines[-1] += " ..."
        roll = piano_roll(example, WIDTH - 2 * MARGIN, tail)
        height = 22 + system.height + 8 + 16 * len(lmx_lines) + 8 + roll.height + MARGIN
        row = Image.new("RGB", (WIDTH, height), "white")
        draw = ImageDraw.Draw(row)
        draw.text((MARGIN, 2), caption, fill=(0, 0, 0), font=caption_font)
        row.paste(system.crop((0, 0, min(system.width, WIDTH - 2 * MARGIN), system.height)), (MARGIN, 22))
        y = 22 + system.height + 8
        for line in lmx_lines:
            draw.text((MARGIN, y), line, fill=(90, 30, 30), font=lmx_font)
            y += 16
        row.paste(roll, (MARGIN, y + 8))
        draw.line([(0, height - 2), (WIDTH, height - 2)], fill=(150, 150, 150), width=2)
        rows.append(row)
    sheet = Image.new("RGB", (WIDTH, sum(r.height for r in rows) or 1), "white")
    y = 0
    for row in rows:
        sheet.paste(row, (0, y))
        y += row.height
    return sheet
