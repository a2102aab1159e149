"""The fitted CPU codecs shipped in assets/codecs load (checksums verified) and round-trip real music."""

from __future__ import annotations

import pathlib

import numpy as np
import pretty_midi
import pytest
from codec_testing import engraved_systems

from mt_music.audio import synthesis
from mt_music.codecs import evaluation, tokenizer
from mt_music.errors import UserError
from mt_music.midi.notes import Note

ASSETS = pathlib.Path(__file__).parents[1] / "assets" / "codecs"


def test_the_image_codec_keeps_the_ink_of_a_verovio_engraving():
    codec = tokenizer.load_codec(ASSETS / "image_cpu")
    assert codec.kind == "image" and codec.num_codebooks == 4 and codec.codebook_size == 1024
    metrics = evaluation.image_round_trip(codec, engraved_systems()[0])
    assert metrics["ink_recall"] > 0.8 and metrics["ink_precision"] > 0.8, metrics


@pytest.mark.skipif(not evaluation.basic_pitch_available(),
                    reason=f"basic-pitch is not installed ({evaluation.BASIC_PITCH_INSTALL})")
def test_the_audio_codec_keeps_the_notes_of_a_fluidsynth_performance():
    codec = tokenizer.load_codec(ASSETS / "audio_cpu")
    assert codec.kind == "audio" and codec.num_codebooks == 4
    notes = [Note(0.25 + 0.4 * i, 0.6 + 0.4 * i, pitch, 90) for i, pitch in enumerate([60, 64, 67, 72, 67, 64])]
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(velocity=n.velocity, pitch=n.pitch, start=n.start, end=n.end) for n in notes]
    midi.instruments.append(piano)
    waveform = synthesis.synthesize(midi)
    codes = codec.encode_audio(waveform)
    assert codes.shape == (-(-len(waveform) // 512), 4) and 0 <= codes.min() and codes.max() < 1024
    metrics = evaluation.audio_round_trip(codec, waveform, notes, transcribe=True)
    assert metrics["onset_f1_decoded"] >= 0.8 * metrics["onset_f1_original"] > 0, metrics


def test_a_changed_array_file_is_refused(tmp_path):
    import shutil

    copy = tmp_path / "image_cpu"
    shutil.copytree(ASSETS / "image_cpu", copy)
    with np.load(copy / "arrays.npz") as arrays:
        changed = {name: arrays[name] for name in arrays.files}
    first = sorted(changed)[0]
    changed[first] = changed[first] + 1e-3
    np.savez(copy / "arrays.npz", **changed)
    with pytest.raises(UserError, match="does not match the checksum"):
        tokenizer.load_codec(copy)
