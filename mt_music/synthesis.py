"""Performance audio from MIDI with FluidSynth, the real synthesizer the corpus uses.

Soundfonts are the timbre axis of augmentation: pretty_midi's wheel always ships
TimGM6mb; Debian's fluid-soundfont-gm (FluidR3) and
musescore-general-soundfont-small add variety when installed.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pretty_midi

from mt_music import audio

_DEBIAN_SOUNDFONTS = {
    "FluidR3": "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "MuseScoreGeneral": "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3",
}


class SynthesisError(RuntimeError):
    """FluidSynth is missing or could not render."""


def available_soundfonts() -> dict[str, pathlib.Path]:
    """Name -> path of every soundfont present on this machine, TimGM6mb first."""
    fonts = {"TimGM6mb": pathlib.Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"}
    for name, path in _DEBIAN_SOUNDFONTS.items():
        if os.path.exists(path):
            fonts[name] = pathlib.Path(path)
    return fonts


def synthesize(midi: pretty_midi.PrettyMIDI, soundfont: str = "TimGM6mb",
               sample_rate: int = audio.SAMPLE_RATE) -> np.ndarray:
    """Renders `midi` to mono float32 audio; the release tail is kept."""
    fonts = available_soundfonts()
    if soundfont not in fonts:
        raise SynthesisError(f"soundfont {soundfont!r} is not installed; available: {sorted(fonts)}")
    try:
        import fluidsynth  # noqa: F401  (pyfluidsynth; fails without libfluidsynth)
    except (ImportError, OSError) as error:
        raise SynthesisError(f"FluidSynth is unavailable ({error}); install the Debian package libfluidsynth3") from None
    if not midi.instruments or not any(instrument.notes for instrument in midi.instruments):
        raise SynthesisError("the MIDI has no notes to synthesize")
    waveform = midi.fluidsynth(fs=sample_rate, synthesizer=str(fonts[soundfont]), normalize=False)
    peak = float(np.max(np.abs(waveform))) if waveform.size else 0.0
    if peak > 0:  # leave headroom but keep the loudness differences between pieces small
        waveform = waveform * (0.9 / peak)
    return waveform.astype(np.float32)
