"""`--report out.html`: one page a person reads — each input beside its output, and the settings used.

    score images   shown (the page and each detected system crop)
    audio          an audio player (linked, not embedded: long recordings stay out of the page)
    MIDI           a piano roll drawn from the notes
    LMX/MusicXML   the tokens per system and the MusicXML engraved back with verovio
Images are embedded as data URIs, so the page can be mailed; audio is linked relative to the page.
A small script counts the images that loaded into `data-images-loaded` / `-failed` on <body>, which
the browser check (`tools/check_report.py`) reads from the rendered DOM.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import os
from pathlib import Path

import numpy as np

from mt_music.midi.notes import Note

ROLL_PIXELS_PER_SECOND = 60
ROLL_PITCHES = (21, 109)
MAX_SHOWN = 6  # output files shown per input (a model that emits many systems writes them all)


@dataclasses.dataclass
class Entry:
    """One decoded file: what went in, what came out (paths as written)."""

    direction: str
    source: Path
    outputs: list[Path]
    seconds: float
    source_crops: list[np.ndarray] = dataclasses.field(default_factory=list)  # detected systems (image inputs)
    error: str = ""


def _png_uri(image) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8))).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def piano_roll(notes: list[Note]) -> np.ndarray:
    """Notes → a grayscale image: time to the right, pitch up, one row per semitone (drums at the bottom)."""
    low, high = ROLL_PITCHES
    end = max((note.end for note in notes), default=1.0)
    width = max(64, int(np.ceil(end * ROLL_PIXELS_PER_SECOND)) + 1)
    rows = 3 * (high - low)
    roll = np.full((rows, width), 255, np.uint8)
    roll[::36] = 225  # a faint line every octave
    for note in notes:
        pitch = min(max(note.pitch, low), high - 1)
        top = rows - 3 * (pitch - low + 1)
        start = int(note.start * ROLL_PIXELS_PER_SECOND)
        stop = max(start + 2, int(note.end * ROLL_PIXELS_PER_SECOND))
        roll[top: top + 3, start:stop] = 90 if note.is_drum else 0
    return roll


def _image(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def _audio(path: Path, page: Path) -> str:
    link = html.escape(os.path.relpath(path.resolve(), page.parent.resolve()))
    return f'<audio controls preload="metadata" src="{link}"></audio><div class="path">{html.escape(path.name)}</div>'


def _engraved(musicxml: str) -> str:
    from mt_music.image import engraving

    try:
        svgs = engraving.render_svg_pages(musicxml, engraving.EngravingOptions(one_system_per_page=False), quiet=True)
    except Exception as error:  # noqa: BLE001 - a model's MusicXML that verovio rejects is shown as such
        return f'<div class="problem">verovio could not engrave it: {html.escape(str(error))}</div>'
    return "".join(_image("data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode(), "engraved MusicXML")
                   for svg in svgs[:2])


def render_file(path: Path, page: Path, crops: list[np.ndarray] | None = None) -> str:
    """The HTML that shows one input or output file."""
    suffix = path.suffix.lower()
    if suffix in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"):
        from PIL import Image

        with Image.open(path) as opened:
            shown = _image(_png_uri(opened.convert("L")), path.name)
        systems = "".join(_image(_png_uri(crop), f"system {i + 1}") for i, crop in enumerate(crops or []))
        return shown + (f'<div class="systems"><h4>detected systems</h4>{systems}</div>' if systems else "")
    if suffix in (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aiff", ".aif", ".opus"):
        return _audio(path, page)
    if suffix in (".mid", ".midi"):
        from mt_music.midi.notes import read_midi_notes

        notes = read_midi_notes(path)
        return _image(_png_uri(piano_roll(notes)), f"piano roll of {path.name}") + f'<div class="path">{len(notes)} notes</div>'
    if suffix in (".musicxml", ".xml", ".mxl"):
        return _engraved(path.read_text() if suffix != ".mxl" else str(path))
    if suffix in (".lmx", ".txt"):
        lines = path.read_text().splitlines()
        return "".join(f'<pre class="lmx">{html.escape(line)}</pre>' for line in lines[:20])
    return f'<div class="path">{html.escape(path.name)}</div>'


STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table.settings td { padding: 0 1em 0 0; }
section { border-top: 1px solid #ccc; padding: 1em 0; }
.pair { display: flex; gap: 2em; align-items: flex-start; }
.pair > div { flex: 1; min-width: 0; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.2em 0; background: white; }
pre.lmx { white-space: pre-wrap; font-size: 0.8em; background: #f6f6f6; padding: 0.4em; }
.path { color: #666; font-size: 0.85em; }
.problem { color: #a00; }
"""

SCRIPT = """
window.addEventListener('load', () => {
  const images = Array.from(document.images);
  const loaded = images.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.imagesLoaded = loaded;
  document.body.dataset.imagesFailed = images.length - loaded;
  document.body.dataset.audio = document.querySelectorAll('audio').length;
});
"""


def write_report(page: Path, entries: list[Entry], settings: dict) -> Path:
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in settings.items())
    sections = []
    for entry in entries:
        if entry.error:
            body = f'<div class="problem">error: {html.escape(entry.error)}</div>'
        else:
            shown = [p for p in entry.outputs if p.suffix != ".lmx" or not any(o.suffix == ".musicxml"
                                                                                for o in entry.outputs)]
            outputs = "".join(f"<div>{render_file(p, page)}</div>" for p in shown[:MAX_SHOWN])
            if len(shown) > MAX_SHOWN:
                outputs += f'<div class="path">… and {len(shown) - MAX_SHOWN} more files</div>'

            lmx = [p for p in entry.outputs if p.suffix == ".lmx"]
            outputs += "".join(render_file(p, page) for p in lmx if any(o.suffix == ".musicxml" for o in entry.outputs))
            body = (f'<div class="pair"><div><h3>input</h3>{render_file(entry.source, page, entry.source_crops)}</div>'
                    f'<div><h3>output</h3>{outputs}</div></div>')
        sections.append(f"<section><h2>{html.escape(entry.direction)}: {html.escape(entry.source.name)}</h2>"
                        f'<div class="path">{entry.seconds:.1f} s</div>{body}</section>')
    text = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>mt_music decoding report</title>"
            f"<style>{STYLE}</style><script>{SCRIPT}</script></head><body><h1>mt_music decoding report</h1>"
            f"<table class='settings'>{rows}</table>{''.join(sections)}</body></html>\n")
    temporary = page.with_name(page.name + ".partial")
    temporary.write_text(text)
    os.replace(temporary, page)
    return page
