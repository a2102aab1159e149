"""A user's files → the model's source units: one encoder input per system (images, LMX) or window (audio, MIDI).

    image  PNG / JPEG / TIFF / … pages, and PDF (each page rasterized): systems found from the staff
           lines (`image.systems`), each preprocessed as the corpus is (staff height 18 px, ×16)
           and encoded by the export's image codec
    audio  any format `audio.load_audio` reads, resampled to 44.1 kHz mono, encoded by the audio codec,
           cut into consecutive windows (`window_seconds`)
    midi   .mid / .midi: notes (sustain applied), consecutive windows with their tie sections
    lmx    .lmx text (one system) or MusicXML (.musicxml / .xml / .mxl: one unit per system, from
           its system breaks)
Every reader raises `UserError` naming the file when it is not what the direction reads.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from mt_music.audio.io import FRAMES_PER_SECOND, HOP_LENGTH, SAMPLE_RATE
from mt_music.data import features
from mt_music.errors import UserError
from mt_music.image import grids, preprocessing, systems
from mt_music.image.staves import NoStaffFoundError
from mt_music.midi.events import encode_grid_window
from mt_music.midi.notes import Note, quantize_notes
from mt_music.midi.windows import window_steps
from mt_music.vocabulary import Modality, UnifiedVocabulary

SUFFIXES = {
    Modality.IMAGE: (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".pdf"),
    Modality.AUDIO: (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aiff", ".aif", ".opus"),
    Modality.MIDI: (".mid", ".midi"),
    Modality.LMX: (".lmx", ".txt", ".musicxml", ".xml", ".mxl"),
}
PDF_DPI = 150


@dataclasses.dataclass
class SourceUnit:
    """One encoder input: frames [T, K], positions [T, 2], and where it sits in the file."""

    frames: np.ndarray
    positions: np.ndarray
    modality: Modality
    index: int  # system or window number in the file
    start_seconds: float = 0.0  # audio / MIDI windows
    seconds: float = 0.0  # the window's length (audio / MIDI)
    image: np.ndarray | None = None  # the system crop (grayscale uint8), for reports
    lmx: list[str] | None = None  # an LMX source's tokens
    notes: list[Note] | None = None  # a MIDI window's notes (window time)


def check_suffix(path: Path, modality: Modality) -> None:
    if path.suffix.lower() not in SUFFIXES[modality]:
        raise UserError(f"{path}: a {modality.name} input must be one of {', '.join(SUFFIXES[modality])} "
                        f"(got {path.suffix or 'no suffix'})")


# ------------------------------------------------------------------ images


def load_pages(path: Path) -> list[np.ndarray]:
    """Grayscale pages of an image file or a PDF."""
    from PIL import Image, UnidentifiedImageError

    from mt_music.image.pixels import load_grayscale

    if path.suffix.lower() == ".pdf":
        try:
            import pypdfium2
        except ImportError as error:
            raise UserError(f"{path}: PDF input needs pypdfium2 (pip install pypdfium2)") from error
        try:
            document = pypdfium2.PdfDocument(str(path))
            return [np.asarray(page.render(scale=PDF_DPI / 72).to_pil().convert("L"), np.float32) for page in document]
        except pypdfium2.PdfiumError as error:
            raise UserError(f"{path}: not a readable PDF ({error})") from error
    try:
        with Image.open(path) as opened:
            opened.load()
            return [load_grayscale(opened)]
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise UserError(f"{path}: not a readable image ({' '.join(str(error).split())})") from error


def image_units(path: Path, vocabulary: UnifiedVocabulary, codec) -> list[SourceUnit]:
    """Every system of every page, top to bottom, as image encoder inputs."""
    crops = []
    for number, page in enumerate(load_pages(path)):
        try:
            crops += systems.crop_systems(page)[0]
        except NoStaffFoundError as error:
            raise UserError(f"{path}: page {number + 1}: {error}; give a score image") from error
    config = vocabulary.config.image_grid
    prepared = [preprocessing.preprocess_score_image(crop) for crop in crops]
    units = []
    for index, (crop, codes) in enumerate(zip(crops, codec.encode_images([p.pixels for p in prepared]))):
        codes = codes[: config.max_rows, : config.max_cols]  # a wider system than the model reads is cut
        joined = grids.join_systems_for_input([codes], config)
        units.append(SourceUnit(vocabulary.encode_image(joined.frames), joined.positions, Modality.IMAGE, index,
                                image=np.asarray(crop, np.uint8)))
    return units


# ------------------------------------------------------------------ audio


def load_waveform(path: Path) -> np.ndarray:
    from mt_music.audio.io import AudioError, load_audio

    try:
        return load_audio(path, SAMPLE_RATE, allow_silence=True)
    except AudioError as error:
        raise UserError(f"{error}; give an audio file") from error


def audio_units(waveform: np.ndarray, vocabulary: UnifiedVocabulary, codec, window_seconds: float) -> list[SourceUnit]:
    """Consecutive windows from 0 s; the codes are computed window by window (bounded memory)."""
    frames_per_window = math.ceil(window_seconds * FRAMES_PER_SECOND)
    samples_per_window = frames_per_window * HOP_LENGTH
    units = []
    for index in range(max(1, math.ceil(len(waveform) / samples_per_window))):
        piece = waveform[index * samples_per_window: (index + 1) * samples_per_window]
        codes = codec.encode_audio(piece)
        encoded = vocabulary.encode_audio(codes)
        units.append(SourceUnit(encoded, features.line_positions(len(encoded)), Modality.AUDIO, index,
                                start_seconds=index * samples_per_window / SAMPLE_RATE,
                                seconds=len(piece) / SAMPLE_RATE))
    return units


# ------------------------------------------------------------------ MIDI


def load_notes(path: Path) -> list[Note]:
    from mt_music.midi.notes import read_midi_notes

    try:
        notes = read_midi_notes(path)
    except Exception as error:  # noqa: BLE001 - pretty_midi / mido raise many kinds on a damaged file
        raise UserError(f"{path}: not a readable MIDI file ({' '.join(str(error).split())[:200]})") from error
    if not notes:
        raise UserError(f"{path}: the MIDI file has no notes")
    return notes


def midi_units(notes: list[Note], vocabulary: UnifiedVocabulary, window_seconds: float,
               hop_seconds: float | None = None) -> list[SourceUnit]:
    """Windows of `window_seconds` every `hop_seconds` (default: consecutive) from 0 s, each with its tie section."""
    codec = vocabulary.config.midi_codec
    steps = window_steps(window_seconds, codec)
    hop = window_steps(hop_seconds, codec) if hop_seconds else steps
    grid = quantize_notes(notes, codec.steps_per_second)
    last = max(note.end_step for note in grid)
    end_seconds = last / codec.steps_per_second
    units = []
    for index in range(max(1, math.ceil(max(last - steps, 0) / hop) + 1)):
        start = index * hop
        relevant = [n for n in grid if n.start_step < start + steps and n.end_step > start]
        encoded = vocabulary.encode_midi(encode_grid_window(relevant, start, start + steps, codec))
        offset = start / codec.steps_per_second
        window_notes = [dataclasses.replace(n, start=max(n.start - offset, 0.0), end=n.end - offset) for n in notes
                        if n.start < offset + window_seconds and n.end > offset]
        units.append(SourceUnit(encoded, features.line_positions(len(encoded)), Modality.MIDI, index,
                                start_seconds=offset, seconds=min(window_seconds, end_seconds - offset),
                                notes=window_notes))
    return units


# ------------------------------------------------------------------ LMX


def lmx_systems(path: Path) -> list[list[str]]:
    from mt_music.lmx.errors import LmxError
    from mt_music.lmx.files import read_lmx_file
    from mt_music.lmx.linearize import linearize_systems

    try:
        if path.suffix.lower() in (".lmx", ".txt"):
            return [read_lmx_file(path)]
        return linearize_systems(path, problems=[])
    except (LmxError, ValueError, OSError) as error:
        raise UserError(f"{path}: not readable as LMX / MusicXML ({' '.join(str(error).split())[:200]})") from error


def lmx_units(systems_tokens: list[list[str]], vocabulary: UnifiedVocabulary) -> list[SourceUnit]:
    from mt_music.lmx.vocabulary import flavor_tokens

    allowed = flavor_tokens("core")
    units = []
    for index, tokens in enumerate(systems_tokens):
        tokens = [token for token in tokens if token in allowed]
        encoded = vocabulary.encode_lmx(tokens)
        units.append(SourceUnit(encoded, features.line_positions(len(encoded)), Modality.LMX, index, lmx=tokens))
    return units
