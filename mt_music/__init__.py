"""mt_music: cross-modal music translation (score image, LMX, MIDI, audio) in JAX."""

__version__ = "0.1.0"
