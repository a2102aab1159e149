"""FluidSynth synthesis (mt_music.audio.synthesis): the one path for single performances and the corpus."""

from __future__ import annotations

import numpy as np
import pretty_midi
import pytest

from mt_music import audio
from mt_music.audio import synthesis
from mt_music.midi import Note

pytest.importorskip("fluidsynth", reason="FluidSynth missing (apt-get install libfluidsynth3)")
NOTES = [Note(0.2 * i, 0.2 * i + 0.3, 55 + (7 * i) % 24, 90) for i in range(5)]


def _as_pretty_midi(notes: list[Note]) -> pretty_midi.PrettyMIDI:
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(n.velocity, n.pitch, n.start, n.end) for n in notes]
    midi.instruments.append(piano)
    return midi


def test_synthesize_is_independent_of_earlier_renders():
    first = synthesis.synthesize(NOTES)
    synthesis.process_renderer().render([Note(0.0, 3.0, 40, 120), Note(0.5, 2.0, 70, 127)], 2.0)
    assert np.array_equal(synthesis.synthesize(NOTES), first)


def test_synthesize_takes_pretty_midi_or_notes_and_keeps_the_release_tail():
    waveform = synthesis.synthesize(_as_pretty_midi(NOTES))
    assert np.array_equal(waveform, synthesis.synthesize(NOTES))
    last_off = max(n.end for n in NOTES)
    assert len(waveform) == round((last_off + synthesis.RELEASE_TAIL_SECONDS) * audio.SAMPLE_RATE)
    assert 0.85 < np.abs(waveform).max() <= 0.9 + 1e-6  # peak-normalised with headroom
    tail = waveform[round(last_off * audio.SAMPLE_RATE):]
    assert np.abs(tail).max() > 1e-3  # the release rings on after the last note-off


def test_synthesize_refuses_what_it_cannot_render():
    with pytest.raises(synthesis.SynthesisError, match="no notes"):
        synthesis.synthesize(pretty_midi.PrettyMIDI())
    with pytest.raises(synthesis.SynthesisError, match="not installed"):
        synthesis.synthesize(NOTES, soundfont="NoSuchFont")
