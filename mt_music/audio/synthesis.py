"""Performance audio from notes with FluidSynth: the one synthesis path of mt_music.

Soundfonts are the timbre axis of augmentation: pretty_midi's wheel always ships TimGM6mb;
Debian's fluid-soundfont-gm (FluidR3) and musescore-general-soundfont-small add variety when
installed. A `Renderer` keeps one FluidSynth instance per soundfont (loading FluidR3 takes ~0.7 s,
too slow per system of a corpus); between renders it is reset and run silent until its reverb has
died away, so nothing of the previous render bleeds in, and re-aligned to FluidSynth's 64-sample
block, so a note's onset lands on the same sample in every render. Output: mono float32 at
44.1 kHz (left/right averaged), exactly `round(duration × 44100)` samples, peak-normalised to 0.9
unless the caller normalises several renders together.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pretty_midi

from mt_music.audio import io as audio_io
from mt_music.midi.notes import Note, notes_from_pretty_midi

_DEBIAN_SOUNDFONTS = {
    "FluidR3": "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "MuseScoreGeneral": "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3",
}
RELEASE_TAIL_SECONDS = 1.0  # rendered after the last note-off, so releases and reverb are kept


class SynthesisError(RuntimeError):
    """FluidSynth is missing or could not render."""


def available_soundfonts() -> dict[str, pathlib.Path]:
    """Name -> path of every soundfont present on this machine, TimGM6mb first."""
    fonts = {"TimGM6mb": pathlib.Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"}
    for name, path in _DEBIAN_SOUNDFONTS.items():
        if os.path.exists(path):
            fonts[name] = pathlib.Path(path)
    return fonts


def synthesize(performance: pretty_midi.PrettyMIDI | list[Note], soundfont: str = "TimGM6mb",
               sample_rate: int = audio_io.SAMPLE_RATE) -> np.ndarray:
    """Renders a whole performance (a PrettyMIDI, sustain applied, or notes) with its release tail.

    A fresh synthesizer each call, so the result depends on nothing rendered before (a reused
    one carries voice and effect state from earlier renders: up to 0.05 of full scale apart).
    """
    notes = notes_from_pretty_midi(performance) if isinstance(performance, pretty_midi.PrettyMIDI) else performance
    if not notes:
        raise SynthesisError("the MIDI has no notes to synthesize")
    renderer = Renderer(sample_rate)
    try:
        return renderer.render(notes, max(note.end for note in notes) + RELEASE_TAIL_SECONDS, soundfont)
    finally:
        renderer.close()


_BLOCK = 64  # FluidSynth renders (and applies events) in blocks of 64 samples
PEAK = 0.9
SILENCE_PEAK = 1e-3  # -60 dBFS, as mt_music.audio's silence threshold
FLUSH_LEVEL = 2.0 / 32768  # FluidSynth's dither: a render starts from this silence
FLUSH_SECONDS = 5.0
# Samples are loaded when a preset is first used (MuseScore General's sf3 loads in ~1 s instead of
# ~3 s); chorus off (20 % faster, hardly audible on piano); reverb kept for a room sound.
SYNTH_SETTINGS = {"synth.dynamic-sample-loading": 1, "synth.chorus.active": 0}


class Renderer:
    """Per-process FluidSynth instances, one per soundfont."""

    def __init__(self, sample_rate: int = audio_io.SAMPLE_RATE) -> None:
        self.sample_rate = sample_rate
        self._synths: dict[str, tuple[object, int]] = {}
        self._rendered: dict[str, int] = {}

    def _synth(self, soundfont: str):
        if soundfont not in self._synths:
            fonts = available_soundfonts()
            if soundfont not in fonts:
                raise SynthesisError(f"soundfont {soundfont!r} is not installed; available: {sorted(fonts)}")
            try:
                import fluidsynth
            except (ImportError, OSError) as error:
                raise SynthesisError(f"FluidSynth is unavailable ({error})") from None
            synth = fluidsynth.Synth(samplerate=float(self.sample_rate), **SYNTH_SETTINGS)
            font_id = synth.sfload(str(fonts[soundfont]))
            if font_id < 0:
                raise SynthesisError(f"FluidSynth could not load {fonts[soundfont]}")
            self._synths[soundfont] = (synth, font_id)
            self._rendered[soundfont] = 0
        return self._synths[soundfont]

    def _samples(self, soundfont: str, synth, count: int) -> np.ndarray:
        if count <= 0:
            return np.zeros(0, np.float32)
        stereo = np.asarray(synth.get_samples(count), dtype=np.float32).reshape(-1, 2)
        self._rendered[soundfont] += count
        return stereo.mean(axis=1) / 32768.0

    def _flush(self, soundfont: str, synth) -> None:
        """Renders silence until the reverb of the previous render has died away (system_reset
        stops the voices but not the reverb's delay lines), at most FLUSH_SECONDS."""
        chunk = 16 * _BLOCK
        for _ in range(int(FLUSH_SECONDS * self.sample_rate / chunk)):
            if float(np.max(np.abs(self._samples(soundfont, synth, chunk)))) <= FLUSH_LEVEL:
                break

    def render(self, notes: list[Note], duration: float, soundfont: str = "TimGM6mb",
               normalize: bool = True) -> np.ndarray:
        """Audio of `notes` (seconds) over [0, duration); events after `duration` are ignored."""
        synth, font_id = self._synth(soundfont)
        synth.system_reset()
        self._flush(soundfont, synth)
        misalignment = self._rendered[soundfont] % _BLOCK
        if misalignment:
            self._samples(soundfont, synth, _BLOCK - misalignment)
        channels: dict[int, int] = {}
        for note in notes:
            if note.is_drum or note.program in channels:
                continue
            channel = len(channels) if len(channels) < 9 else len(channels) + 1
            if channel > 15:
                raise SynthesisError("more than 15 programs in one rendering")
            channels[note.program] = channel
            synth.program_select(channel, font_id, 0, int(note.program))
        if any(note.is_drum for note in notes):
            synth.program_select(9, font_id, 128, 0)
        events = []
        for note in notes:
            channel = 9 if note.is_drum else channels[note.program]
            events.append((note.start, 1, channel, int(note.pitch), int(note.velocity)))
            events.append((note.end, 0, channel, int(note.pitch), 0))
        events.sort(key=lambda e: (e[0], e[1]))  # note-offs before note-ons at the same time
        total = int(round(duration * self.sample_rate))
        pieces = []
        position = 0
        for time, is_on, channel, pitch, velocity in events:
            sample = min(total, max(0, int(round(time * self.sample_rate))))
            if sample > position:
                pieces.append(self._samples(soundfont, synth, sample - position))
                position = sample
            if position >= total:
                break
            if is_on:
                synth.noteon(channel, pitch, velocity)
            else:
                synth.noteoff(channel, pitch)
        if total > position:
            pieces.append(self._samples(soundfont, synth, total - position))
        waveform = np.concatenate(pieces) if pieces else np.zeros(total, np.float32)
        if normalize:
            waveform = waveform * peak_gain(waveform)
        return waveform.astype(np.float32)

    def close(self) -> None:
        for synth, _ in self._synths.values():
            synth.delete()
        self._synths.clear()


def overlap_add(renders: list[np.ndarray], offsets: list[float], duration: float,
                sample_rate: int = audio_io.SAMPLE_RATE) -> np.ndarray:
    """Renders placed at their start times (seconds) and summed into one `duration`-long signal."""
    total = int(round(duration * sample_rate))
    mix = np.zeros(total, np.float32)
    for waveform, offset in zip(renders, offsets):
        start = int(round(offset * sample_rate))
        stop = min(total, start + len(waveform))
        if stop > start:
            mix[start:stop] += waveform[: stop - start]
    return mix


def peak_gain(waveform: np.ndarray, peak: float = PEAK) -> float:
    """The gain that brings the waveform's peak to `peak`; 1 for silence (FluidSynth's dither
    noise below -60 dBFS is not music and must not be amplified)."""
    current = float(np.max(np.abs(waveform))) if waveform.size else 0.0
    return peak / current if current > SILENCE_PEAK else 1.0


_PROCESS_RENDERER: Renderer | None = None


def process_renderer() -> Renderer:
    """The renderer of this process (created on first use)."""
    global _PROCESS_RENDERER
    if _PROCESS_RENDERER is None:
        _PROCESS_RENDERER = Renderer()
    return _PROCESS_RENDERER
