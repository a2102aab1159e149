"""One video → its slide/system crops and padded audio spans, every found slide judged, a summary.

A slide is kept when it has sound (peak ≥ −50 dBFS while it was on screen: title and end cards are
silent), lasts 3–20 s, shows staves (`mt_music.image.systems` finds and crops its systems), and its
padded span (⅓ s either side, for the half-check boundary uncertainty and the player running ahead
or behind the page turn) fits the model's audio limit, and its systems fit the image limit
(`LengthLimits`, frames counted as the tasks count them). The first failing test is the reason a
slide is dropped, and the summary counts the reasons.

The video's folder is built under a hidden `.<id>.partial` name and renamed when complete (a marker
file written last inside), so a crash never leaves a folder that looks done.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import pathlib
import shutil
import time

import numpy as np
from PIL import Image

from mt_music.audio.io import FRAMES_PER_SECOND, SAMPLE_RATE, peak_dbfs, slice_seconds, write_audio
from mt_music.data.directions import LengthLimits
from mt_music.image.grids import DEFAULT_TOKEN_GRID, PATCH_SIZE, padded_size
from mt_music.image.preprocessing import TARGET_STAFF_HEIGHT
from mt_music.image.staves import NoStaffFoundError
from mt_music.image.systems import System, detect_systems
from mt_music.ytsv import slides as slide_detection
from mt_music.ytsv import video as video_io
from mt_music.ytsv.metadata import DURATION as CSV_DURATION
from mt_music.ytsv.metadata import Row, duration_mismatch, duration_seconds, pair_fields
from mt_music.ytsv.video import VideoError

PAD_SECONDS = 1.0 / 3.0
SILENCE_DBFS = -50.0
REASONS = ("silent", "too_short", "too_long", "no_frame", "no_systems", "audio_over_limit", "image_over_limit")
COMPLETE_MARKER = ".complete"
AUDIO_FILE = "audio.flac"


def slide_name(index: int, suffix: str = "") -> str:
    return f"slide-{index:03d}{suffix}.png"


def audio_frames(seconds: float) -> int:
    """Codec frames of `seconds` of audio, EOS included (as `LengthLimits.audio` counts)."""
    return math.ceil(seconds * FRAMES_PER_SECOND - 1e-9) + 1


def image_frames(systems: list[System]) -> tuple[int, bool]:
    """(output frames of the systems at the model's 18 px staff height — per system a height frame and its
    rows × columns of 16 px patches, SEP between systems, EOS — and whether every system fits the grid)."""
    total, fits = 1 + max(0, len(systems) - 1), True
    for system in systems:
        scale = TARGET_STAFF_HEIGHT / max(system.staff_height, 1e-6)
        rows = padded_size(round((system.bottom - system.top) * scale)) // PATCH_SIZE
        cols = padded_size(round((system.right - system.left) * scale)) // PATCH_SIZE
        fits &= rows <= DEFAULT_TOKEN_GRID.max_rows and cols <= DEFAULT_TOKEN_GRID.max_cols
        total += 1 + rows * cols
    return total, fits


@dataclasses.dataclass
class Slide:
    """What became of one found section."""

    index: int
    start: float  # section boundaries, s
    end: float
    peak_dbfs: float
    reason: str | None = None  # None: kept
    span: tuple[float, float] | None = None  # padded audio span of a kept slide
    systems: list[System] = dataclasses.field(default_factory=list)
    audio_frames: int | None = None
    image_frames: int | None = None

    def summary(self) -> dict:
        return {"slide": self.index, "start": round(self.start, 3), "end": round(self.end, 3),
                "peak_dbfs": None if math.isinf(self.peak_dbfs) else round(self.peak_dbfs, 1),
                "kept": self.reason is None, "reason": self.reason, "systems": len(self.systems),
                "audio_frames": self.audio_frames, "image_frames": self.image_frames}


def judge(section: slide_detection.Section, audio: np.ndarray, duration: float,
          limits: LengthLimits) -> Slide:
    """The section's fate: the first test it fails, or kept with its systems and padded span."""
    peak = peak_dbfs(slice_seconds(audio, *section.seen))
    slide = Slide(section.index, section.start, section.end, peak)
    if peak < SILENCE_DBFS:
        slide.reason = "silent"
    elif section.seconds < slide_detection.MIN_SECONDS:
        slide.reason = "too_short"
    elif section.seconds > slide_detection.MAX_SECONDS:
        slide.reason = "too_long"
    elif section.frame is None:
        slide.reason = "no_frame"
    if slide.reason:
        return slide
    try:
        slide.systems = detect_systems(section.frame)
    except NoStaffFoundError:
        slide.reason = "no_systems"
        return slide
    start, end = max(0.0, section.start - PAD_SECONDS), min(duration, section.end + PAD_SECONDS)
    slide.span = (start, end)
    slide.audio_frames = audio_frames(end - start)
    slide.image_frames, fits = image_frames(slide.systems)
    if slide.audio_frames > limits.audio:
        slide.reason = "audio_over_limit"
    elif not fits or slide.image_frames > limits.image:
        slide.reason = "image_over_limit"
    return slide


def _png(path: pathlib.Path, pixels: np.ndarray) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, np.uint8)).save(buffer, format="PNG", optimize=False)
    path.write_bytes(buffer.getvalue())


def write_slide(folder: pathlib.Path, frame: np.ndarray, slide: Slide) -> dict:
    """slide-NNN.png, slide-NNN-sM.png per system, slide-NNN-systems.png (all systems' band); their names."""
    _png(folder / slide_name(slide.index), frame)
    systems = []
    for number, system in enumerate(slide.systems, 1):
        name = slide_name(slide.index, f"-s{number}")
        _png(folder / name, frame[system.top: system.bottom, system.left: system.right])
        systems.append({"file": name, "box": [system.top, system.bottom, system.left, system.right],
                        "staves": len(system.staves)})
    top, bottom = slide.systems[0].top, slide.systems[-1].bottom
    left, right = min(s.left for s in slide.systems), max(s.right for s in slide.systems)
    _png(folder / slide_name(slide.index, "-systems"), frame[top:bottom, left:right])
    return {"image": slide_name(slide.index, "-systems"), "image_box": [top, bottom, left, right],
            "slide_image": slide_name(slide.index), "systems": systems}


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=False)


def process_video(path: str | pathlib.Path, video_id: str, row: Row, split: str, out: str | pathlib.Path,
                  limits: LengthLimits | None = None, rate: float = slide_detection.CHECKS_PER_SECOND) -> dict:
    """Cuts one video into `<out>/<video_id>/` and returns its summary; VideoError when it cannot be read."""
    began = time.monotonic()
    path, out, limits = pathlib.Path(path), pathlib.Path(out), limits or LengthLimits()
    info = video_io.probe(path)
    mismatch = duration_mismatch(info.duration, row)
    if mismatch:
        raise VideoError(f"{path}: {mismatch}")
    audio = video_io.extract_audio(path, info)
    duration = max(info.duration, len(audio) / SAMPLE_RATE) if audio.size else info.duration
    sections = slide_detection.segment(video_io.sample_frames(path, rate), rate, duration)
    partial = out / f".{video_id}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        rows, judged = [], []
        fields = pair_fields(row)
        for section in sections:
            slide = judge(section, audio, duration, limits)
            judged.append(slide)
            if slide.reason is None:
                files = write_slide(partial, section.frame, slide)
                rows.append({"id": f"{video_id}/slide-{slide.index:03d}", "video_id": video_id,
                             "slide": slide.index, "split": split,
                             "start": round(slide.span[0], 4), "end": round(slide.span[1], 4),
                             "section_start": round(slide.start, 4), "section_end": round(slide.end, 4),
                             **files, "audio": AUDIO_FILE, "audio_frames": slide.audio_frames,
                             "image_frames": slide.image_frames, **fields})
            section.frame = None  # free it
        write_audio(partial / AUDIO_FILE, audio)
        summary = video_summary(video_id, path, split, duration, row, judged, rows, time.monotonic() - began)
        (partial / "pairs.jsonl").write_text("".join(dumps(r) + "\n" for r in rows), encoding="utf-8")
        (partial / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False), encoding="utf-8")
        (partial / COMPLETE_MARKER).write_text(f"{time.time():.0f}\n", encoding="utf-8")  # written last
        final = out / video_id
        if final.exists():
            shutil.rmtree(final)  # an incomplete earlier attempt
        os.replace(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return summary


def video_summary(video_id: str, path: pathlib.Path, split: str, duration: float, row: Row, judged: list[Slide],
                  rows: list[dict], seconds: float) -> dict:
    dropped = {reason: 0 for reason in REASONS}
    for slide in judged:
        if slide.reason:
            dropped[slide.reason] += 1
    return {"video_id": video_id, "status": "done", "file": path.name, "split": split,
            "duration_s": round(duration, 3), "csv_duration_s": duration_seconds(row.get(CSV_DURATION, "")),
            "slides_found": len(judged), "slides_kept": len(rows), "dropped": dropped,
            "systems": sum(len(r["systems"]) for r in rows),
            "pair_hours": round(sum(r["end"] - r["start"] for r in rows) / 3600, 6),
            "video_hours": round(duration / 3600, 6), "processing_s": round(seconds, 2),
            "slides": [slide.summary() for slide in judged]}
