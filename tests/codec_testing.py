"""Small real data for codec tests: verovio engravings at the codec's scale and FluidSynth audio."""

from __future__ import annotations

import functools
import pathlib

import numpy as np
import pretty_midi

from mt_music.audio import synthesis
from mt_music.image import engraving

DATA = pathlib.Path(__file__).parent / "data" / "olimpic_lmx"
SCORES = ("basics/grandstaff.xml", "basics/note_types.xml")


@functools.cache
def engraved_systems() -> tuple[np.ndarray, ...]:
    """uint8 [H, W] system images with an 18 px staff (verovio scale 25 = 0.72 × 25 px)."""
    options = engraving.EngravingOptions(scale=25, page_width=1600)
    images = []
    for name in SCORES:
        for page in engraving.engrave(DATA / name, options):
            images.append(np.asarray(page.image, np.uint8))
    return tuple(images)


def image_crops(count: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """`count` inky size×size crops of the engravings in [-1, 1], [N, size, size, 1]."""
    rng = np.random.default_rng(seed)
    crops = []
    while len(crops) < count:
        image = engraved_systems()[int(rng.integers(len(engraved_systems())))]
        top = int(rng.integers(max(1, image.shape[0] - size)))
        left = int(rng.integers(max(1, image.shape[1] - size)))
        crop = image[top: top + size, left: left + size]
        if crop.shape == (size, size) and np.mean(crop < 128) > 0.08:
            crops.append(crop.astype(np.float32) / 127.5 - 1.0)
    return np.stack(crops)[..., None]


@functools.cache
def performance(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A few piano notes rendered with FluidSynth (mono float32, 44.1 kHz), trimmed to `seconds`."""
    rng = np.random.default_rng(seed)
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    start = 0.0
    while start < seconds:
        pitch = int(rng.integers(55, 80))
        piano.notes.append(pretty_midi.Note(velocity=90, pitch=pitch, start=start, end=start + 0.3))
        start += 0.2
    midi.instruments.append(piano)
    waveform = synthesis.synthesize(midi)
    return waveform[: int(seconds * 44100)]


def constant_optimizer(learning_rate: float):
    """AdamW at a constant rate after 10 warm-up steps: what the codec training tests overfit with."""
    from mt_music.training import trainer

    return trainer.OptimizerConfig(learning_rate=learning_rate, b1=0.8, b2=0.99, weight_decay=0.0, clip_norm=1e3,
                                   warmup_steps=10, total_steps=1000, decay_fraction=1.0,
                                   final_learning_rate=learning_rate)
