"""A real score-following video made from the project's own material, with the truth a pipeline must find.

Like a YTSV video: a title card (silent), then one engraved page per slide while its performance plays,
then a silent outro card. Pages are hand-made MusicXML engraved by verovio (one- and two-staff systems,
system breaks encoded, so the number of systems per page is known); each page's notes are synthesized with
FluidSynth (TimGM6mb) to exactly the slide's duration; frames and audio are muxed by ffmpeg (H.264 +
AAC in .mp4, mpeg4 when libx264 is missing) at 640×896 px, 8 fps, so the test video is small and fast.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import pathlib
import subprocess
import tempfile

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mt_music.audio import io as audio_io
from mt_music.audio.synthesis import synthesize
from mt_music.image import engraving
from mt_music.midi.notes import Note

FFMPEG = "/usr/bin/ffmpeg"
WIDTH, HEIGHT = 640, 896  # even sides (yuv420p)
FPS = 8
SCALE = 35  # verovio %: staff height ≈ 25 px
HEADER = ("YT Id,Title of Video,User,Duration,Composer Full Name,Title of Piece,Opus Number,Instrumentation,"
          "Category,Piano Included,String Included,Wind Included,Voice Included,Year,Staff Count").split(",")
INTRO_SECONDS = OUTRO_SECONDS = 3.0


@dataclasses.dataclass(frozen=True)
class SlideSpec:
    systems: int
    staves: int  # per system (2: a grand staff joined by its brace)
    measures: int  # per system
    seconds: float


# 4–9 s each; the boundaries are on the 8 fps frame grid but off the 3-per-second check grid
CONTENT = (SlideSpec(3, 1, 4, 5.25), SlideSpec(2, 2, 3, 7.5), SlideSpec(4, 1, 3, 4.625))


@dataclasses.dataclass
class Truth:
    video: pathlib.Path
    video_id: str
    duration: float
    slides: list[tuple[float, float]]  # (start, end) s of each content slide
    systems: list[int]  # systems per content slide
    intro: tuple[float, float]
    outro: tuple[float, float]
    csv_row: dict[str, str]


def csv_row(video_id: str, seconds: float, title: str = "Fixture Piece") -> dict[str, str]:
    """A metadata row with the real CSV's columns."""
    minutes, rest = divmod(int(round(seconds)), 60)
    values = [video_id, f"Fixture Composer - {title} (with Score)", "mt_music", f"{minutes}:{rest:02d}",
              "Fixture Composer", title, "", "solo", "piano solo", "True", "False", "False", "False", "", "1-0"]
    return dict(zip(HEADER, values))


def write_csv(path: pathlib.Path, rows: list[dict[str, str]]) -> pathlib.Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return path


# ------------------------------------------------------------------------------------------ pages
_SCALE_STEPS = [("C", 4), ("D", 4), ("E", 4), ("F", 4), ("G", 4), ("A", 4), ("B", 4), ("C", 5), ("D", 5), ("E", 5)]
_STEP_SEMITONES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def _melody(spec: SlideSpec, seed: int) -> list[tuple[str, int]]:
    rng = np.random.default_rng(seed)
    return [_SCALE_STEPS[i] for i in rng.integers(0, len(_SCALE_STEPS), spec.systems * spec.measures * 4)]


def _note_xml(step: str, octave: int, duration: int, kind: str, staff: int) -> str:
    return (f"<note><pitch><step>{step}</step><octave>{octave}</octave></pitch><duration>{duration}</duration>"
            f"<voice>{staff}</voice><type>{kind}</type><staff>{staff}</staff></note>")


def page_musicxml(spec: SlideSpec, melody: list[tuple[str, int]]) -> str:
    """One page of `spec.systems` systems: quarter-note melody (+ whole-note bass on a grand staff)."""
    clefs = "<clef number=\"1\"><sign>G</sign><line>2</line></clef>"
    if spec.staves == 2:
        clefs += "<clef number=\"2\"><sign>F</sign><line>4</line></clef>"
    measures = []
    for number in range(spec.systems * spec.measures):
        parts = []
        if number == 0:
            parts.append(f"<attributes><divisions>1</divisions><key><fifths>0</fifths></key><time><beats>4</beats>"
                         f"<beat-type>4</beat-type></time><staves>{spec.staves}</staves>{clefs}</attributes>")
        elif number % spec.measures == 0:
            parts.append('<print new-system="yes"/>')
        parts += [_note_xml(step, octave, 1, "quarter", 1) for step, octave in melody[4 * number: 4 * number + 4]]
        if spec.staves == 2:
            parts.append("<backup><duration>4</duration></backup>" + _note_xml("C", 3, 4, "whole", 2))
        measures.append(f'<measure number="{number + 1}">{"".join(parts)}</measure>')
    return ('<?xml version="1.0" encoding="UTF-8"?><score-partwise version="3.1"><part-list>'
            '<score-part id="P1"><part-name print-object="no"></part-name></score-part></part-list>'
            f'<part id="P1">{"".join(measures)}</part></score-partwise>')


def engrave_page(spec: SlideSpec, melody: list[tuple[str, int]]) -> np.ndarray:
    """The page as a WIDTH×HEIGHT uint8 grayscale frame."""
    options = engraving.EngravingOptions(
        scale=SCALE, page_width=WIDTH * 100 // SCALE, one_system_per_page=False, adjust_page_height=False,
        extra={"pageHeight": HEIGHT * 100 // SCALE, "breaks": "encoded", "spacingSystem": 12})
    pages = engraving.engrave(page_musicxml(spec, melody), options)
    if len(pages) != 1:
        raise RuntimeError(f"fixture page engraved onto {len(pages)} pages")
    canvas = Image.new("L", (WIDTH, HEIGHT), 255)
    canvas.paste(pages[0].image.crop((0, 0, min(WIDTH, pages[0].image.width), min(HEIGHT, pages[0].image.height))))
    return np.asarray(canvas)


def text_card(lines: list[str]) -> np.ndarray:
    """A title / outro card: black text on white."""
    card = Image.new("L", (WIDTH, HEIGHT), 255)
    draw = ImageDraw.Draw(card)
    try:
        font = ImageFont.load_default(size=36)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    for row, line in enumerate(lines):
        draw.text((60, 300 + 70 * row), line, fill=0, font=font)
    return np.asarray(card)


# ------------------------------------------------------------------------------------------ audio
def slide_audio(spec: SlideSpec, melody: list[tuple[str, int]]) -> np.ndarray:
    """The page's notes played to fill the slide (first onset 0.15 s in), cut to its duration."""
    lead, tail = 0.15, 0.4
    beat = (spec.seconds - lead - tail) / len(melody)
    notes = [Note(lead + i * beat, lead + (i + 0.9) * beat, 12 * (octave + 1) + _STEP_SEMITONES[step], 90)
             for i, (step, octave) in enumerate(melody)]
    if spec.staves == 2:
        bar = 4 * beat
        notes += [Note(lead + m * bar, lead + (m + 0.95) * bar, 48, 70) for m in range(len(melody) // 4)]
    samples = audio_io.seconds_to_samples(spec.seconds)
    audio = synthesize(notes, "TimGM6mb")[:samples]
    audio = np.pad(audio, (0, samples - len(audio)))
    fade = audio_io.seconds_to_samples(0.05)
    audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return audio


# ------------------------------------------------------------------------------------------ video
def _video_codec() -> list[str]:
    encoders = subprocess.run([FFMPEG, "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    if " libx264 " in encoders:
        return ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"]
    return ["-c:v", "mpeg4", "-q:v", "3", "-pix_fmt", "yuv420p"]


def mux(path: pathlib.Path, cards: list[tuple[np.ndarray, float]], audio: np.ndarray) -> pathlib.Path:
    """Shows each (frame, seconds) card in turn at FPS with `audio` (44.1 kHz mono) underneath."""
    with tempfile.TemporaryDirectory() as folder:
        wav = audio_io.write_audio(pathlib.Path(folder) / "audio.wav", audio)
        command = [FFMPEG, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{WIDTH}x{HEIGHT}",
                   "-r", str(FPS), "-i", "pipe:", "-i", str(wav), *_video_codec(), "-c:a", "aac", "-b:a", "96k",
                   "-shortest", str(path)]
        frames = io.BytesIO()
        for frame, seconds in cards:
            frames.write(frame.tobytes() * int(round(seconds * FPS)))
        completed = subprocess.run(command, input=frames.getvalue(), capture_output=True)
        if completed.returncode:
            raise RuntimeError(f"ffmpeg failed: {completed.stderr.decode(errors='replace')[-400:]}")
    return path


def make_video(folder: pathlib.Path, video_id: str = "fixtureVid01", content=CONTENT, seed: int = 0) -> Truth:
    """Writes `<folder>/<video_id>.mp4` (title card, the content slides, outro card) and returns its truth."""
    folder.mkdir(parents=True, exist_ok=True)
    cards = [(text_card(["Fixture Composer", "Fixture Piece", "(with Score)"]), INTRO_SECONDS)]
    audio = [np.zeros(audio_io.seconds_to_samples(INTRO_SECONDS), np.float32)]
    slides, time = [], INTRO_SECONDS
    for index, spec in enumerate(content):
        melody = _melody(spec, seed + index)
        cards.append((engrave_page(spec, melody), spec.seconds))
        audio.append(slide_audio(spec, melody))
        slides.append((time, time + spec.seconds))
        time += spec.seconds
    cards.append((text_card(["Thanks for listening"]), OUTRO_SECONDS))
    audio.append(np.zeros(audio_io.seconds_to_samples(OUTRO_SECONDS), np.float32))
    duration = time + OUTRO_SECONDS
    path = mux(folder / f"{video_id}.mp4", cards, np.concatenate(audio))
    return Truth(path, video_id, duration, slides, [spec.systems for spec in content], (0.0, INTRO_SECONDS),
                 (time, duration), csv_row(video_id, duration))


if __name__ == "__main__":  # python tests/ytsv_fixture.py OUT_DIR: writes the video (to look at)
    import sys

    print(make_video(pathlib.Path(sys.argv[1])))
