"""Fixed-length windows of whole pieces for audio↔MIDI: the published AMT setting.

A baked piece record (`token_bake` over a corpus `*_pieces` config) holds the audio codes of the
whole performance and all its notes (seconds from the piece's start). Training takes random
windows (10 s by default, 1000 MIDI steps); evaluation takes the consecutive windows from 0 s, so
a whole piece's predictions can be stitched (`mt_music.midi.windows.decode_performance`) and
scored over the piece, as MT3 does.

A window starts on an audio frame; its MIDI window starts on the 10 ms step nearest to that
frame's time (≤ 5 ms apart, inside the grid's own rounding), and its audio runs for
ceil(seconds × 86.13) frames so that it covers the MIDI window. Notes sounding at a window's
start go into its tie section. TensorFlow-free.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mt_music.audio.io import FRAMES_PER_SECOND
from mt_music.data import features, system_frames
from mt_music.errors import UserError
from mt_music.midi.events import encode_grid_window
from mt_music.midi.notes import GridNote, nearest_step, quantize_notes
from mt_music.midi.windows import window_steps
from mt_music.vocabulary import Modality, UnifiedVocabulary

WINDOW_SECONDS = 10.0
PIECE_DIRECTIONS = ("audio2midi", "midi2audio")  # the directions that read pieces when a mixture has them


@dataclasses.dataclass(frozen=True)
class Window:
    piece: int  # index of the piece record
    start_frame: int  # first audio frame
    start_step: int  # first MIDI grid step (10 ms)
    index: int = -1  # position among the piece's consecutive windows; −1 for a random window

    def start_seconds(self, steps_per_second: int) -> float:
        return self.start_step / steps_per_second


class PieceWindows:
    """Windows over a list of piece records, rendered as unified-vocabulary frames."""

    def __init__(self, records: Sequence[Mapping[str, Any]], vocabulary: UnifiedVocabulary,
                 window_seconds: float = WINDOW_SECONDS):
        self.records, self.vocabulary = list(records), vocabulary
        self.codec = vocabulary.config.midi_codec
        try:
            self.steps_per_window = window_steps(window_seconds, self.codec)
        except ValueError as error:
            raise UserError(f"window_seconds = {window_seconds}: {error}") from error
        self.window_seconds = window_seconds
        self.frames_per_window = math.ceil(window_seconds * FRAMES_PER_SECOND)
        self._notes: dict[int, list[GridNote]] = {}

    def total_frames(self, piece: int) -> int:
        codes = np.asarray(self.records[piece]["audio_codes"])
        return int(codes.shape[1]) if codes.size else 0

    def audio_variants(self, piece: int) -> int:
        codes = np.asarray(self.records[piece]["audio_codes"])
        return int(codes.shape[0]) if codes.size else 0

    def grid_notes(self, piece: int) -> list[GridNote]:
        if piece not in self._notes:
            notes = system_frames.record_notes(self.records[piece])
            self._notes[piece] = quantize_notes(notes, self.codec.steps_per_second)
        return self._notes[piece]

    def _step_of_frame(self, frame: int) -> int:
        return nearest_step(frame / FRAMES_PER_SECOND, self.codec.steps_per_second)

    def consecutive(self, piece: int) -> list[Window]:
        """Windows from 0 s, one every `window_seconds`, until the audio and the notes both end."""
        last_note_step = max((note.end_step for note in self.grid_notes(piece)), default=0)
        # the codec pads the audio to whole frames: a last frame alone is no window of its own
        audio_steps = nearest_step(max(self.total_frames(piece) - 1, 0) / FRAMES_PER_SECOND, self.codec.steps_per_second)
        count = max(1, math.ceil(max(last_note_step, audio_steps) / self.steps_per_window))
        windows = []
        for index in range(count):
            step = index * self.steps_per_window
            frame = round(step / self.codec.steps_per_second * FRAMES_PER_SECOND)
            windows.append(Window(piece, frame, step, index))
        return windows

    def random(self, piece: int, rng: np.random.Generator) -> Window:
        """A window starting on a uniformly drawn audio frame (whole windows only, when the piece is long enough)."""
        last_start = max(self.total_frames(piece) - self.frames_per_window, 0)
        frame = int(rng.integers(last_start + 1))
        return Window(piece, frame, self._step_of_frame(frame))

    def frames(self, window: Window, modality: Modality, *, output: bool,
               audio_variant: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(frames [T, K], positions [T, 2]) of the window's audio or MIDI."""
        if modality is Modality.AUDIO:
            codes = np.asarray(self.records[window.piece]["audio_codes"][audio_variant], np.int32)
            codes = codes[window.start_frame: window.start_frame + self.frames_per_window]
            encoded = self.vocabulary.encode_audio(codes, add_eos=output)
        elif modality is Modality.MIDI:
            encoded = self.vocabulary.encode_midi(self.midi_ids(window))
        else:
            raise ValueError(f"piece windows hold audio and MIDI, not {modality.name}")
        return encoded, features.line_positions(len(encoded))

    def midi_ids(self, window: Window) -> list[int]:
        """Native MIDI-codec ids of the window (tie section first), EOS included."""
        start, end = window.start_step, window.start_step + self.steps_per_window
        relevant = [note for note in self.grid_notes(window.piece) if note.start_step < end and note.end_step > start]
        return encode_grid_window(relevant, start, end, self.codec)

    def frame_count(self, window: Window, modality: Modality, *, output: bool) -> int:
        if modality is Modality.AUDIO:
            frames = min(self.frames_per_window, self.total_frames(window.piece) - window.start_frame)
            return max(frames, 0) + (1 if output else 0)
        return len(self.midi_ids(window))
