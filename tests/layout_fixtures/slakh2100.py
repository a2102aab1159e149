"""A miniature of Slakh2100-redux (mt_music/datasets/layouts/slakh2100.py says where the layout comes from).

`<root>/slakh2100_flac_redux/{train,validation,test,omitted}/TrackNNNNN/` as the tarball unpacks: each
track has `metadata.yaml` (Slakh's keys), `all_src.mid`, `MIDI/Sxx.mid` for the stems with saved MIDI,
`stems/Sxx.flac` for the rendered ones and `mix.flac` (their sum; 44.1 kHz mono FLAC). Tracks:
Track00001 (train: piano, a bass whose stem MIDI says program 0 though metadata.yaml says 33, drums, and
a sound-effects stem with audio_rendered/midi_saved false that must be left out), Track01501 (validation),
Track01877 (test), Track01878 (test, no mix.flac: not listed, `missing()` reports it) and Track01879
(omitted/, as in the real redux release: never listed).
"""

from __future__ import annotations

import pathlib

import numpy as np
import pretty_midi
import yaml

from mt_music.audio.io import write_audio
from mt_music.audio.synthesis import synthesize
from mt_music.midi.notes import Note

from . import ExpectedItem, Fixture

FOLDER = "slakh2100_flac_redux"
RATE = 44100
# name, inst_class, midi_program_name, program_num, is_drum, plugin_name, rendered (audio_rendered and midi_saved)
PIANO = ("Piano", "Acoustic Grand Piano", 0, False, "grand_piano.nkm", True)
BASS = ("Bass", "Electric Bass (finger)", 33, False, "scarbee_jay_bass_both.nkm", True)
DRUMS = ("Drums", "Drums", 128, True, "session_kit_full.nkm", True)
EFFECTS = ("Sound Effects", "FX 8 (sci-fi)", 103, False, "None", False)
GUITAR = ("Guitar", "Electric Guitar (jazz)", 26, False, "jazz_guitar2.nkm", True)
STRINGS = ("Strings", "String Ensemble 1", 48, False, "session_strings_pro_2.nkm", True)
ORGAN = ("Organ", "Percussive Organ", 17, False, "fever.nkm", True)
EPIANO = ("Electric Piano", "Electric Piano 1", 4, False, "mark_i.nkm", True)
# track, split, stems, kind ("ok", "no_mix", "omitted")
TRACKS = (
    ("Track00001", "train", (PIANO, BASS, DRUMS, EFFECTS), "ok"),
    ("Track01501", "validation", (GUITAR, STRINGS), "ok"),
    ("Track01877", "test", (EPIANO, BASS), "ok"),
    ("Track01878", "test", (ORGAN, BASS), "no_mix"),
    ("Track01879", "omitted", (PIANO, DRUMS), "omitted"),
)
MISSING_ID, OMITTED_ID = "Track01878", "Track01879"
MIDI_PROGRAM_OVERRIDE = {("Track00001", "S01"): 0}  # the stem MIDI's own program change, not metadata.yaml's


def stem_notes(stem: tuple, number: int) -> list[Note]:
    _, _, program, is_drum, _, _ = stem
    if is_drum:  # kick and snare, then a closed hi-hat
        return [Note(0.1 + 0.5 * beat, 0.2 + 0.5 * beat, (36, 38)[beat % 2], 100, 0, True) for beat in range(4)] + \
               [Note(0.35 + 0.5 * beat, 0.45 + 0.5 * beat, 42, 90, 0, True) for beat in range(3)]
    base = 36 if program in range(32, 40) else 57 + 3 * number
    return [Note(0.1 + 0.7 * step, 0.7 + 0.7 * step, base + (0, 4, 7)[step], 90, program) for step in range(3)]


def stem_midi(notes: list[Note], program: int, is_drum: bool) -> pretty_midi.PrettyMIDI:
    midi = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=120.0)
    instrument = pretty_midi.Instrument(program=program, is_drum=is_drum)
    instrument.notes = [pretty_midi.Note(note.velocity, note.pitch, note.start, note.end) for note in notes]
    midi.instruments.append(instrument)
    return midi


def write_track(folder: pathlib.Path, track: str, stems: tuple, kind: str) -> ExpectedItem | None:
    (folder / "MIDI").mkdir(parents=True, exist_ok=True)
    (folder / "stems").mkdir(exist_ok=True)
    metadata = {"UUID": f"{int(track[5:]):032x}", "audio_dir": "stems",
                "lmd_midi_dir": f"lmd_matched/A/B/C/TRABC{int(track[5:]):013d}/{int(track[5:]):032x}.mid",
                "midi_dir": "MIDI", "normalization_factor": -13.0, "normalized": True, "overall_gain": 0.4,
                "stems": {}, "target_peak": -1.0}
    everything = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=120.0)
    renders, notes_written, programs = {}, 0, set()
    for number, stem in enumerate(stems):
        name = f"S{number:02d}"
        inst_class, program_name, program, is_drum, plugin, rendered = stem
        metadata["stems"][name] = {"audio_rendered": rendered, "inst_class": inst_class, "is_drum": is_drum,
                                   "midi_program_name": program_name, "midi_saved": rendered, "plugin_name": plugin,
                                   "program_num": program}
        notes = stem_notes(stem, number)
        midi_program = MIDI_PROGRAM_OVERRIDE.get((track, name), 0 if is_drum else program)
        midi = stem_midi(notes, midi_program, is_drum)
        everything.instruments += midi.instruments
        if not rendered:
            continue
        metadata["stems"][name]["integrated_loudness"] = -16.0 - number
        midi.write(str(folder / "MIDI" / f"{name}.mid"))
        renders[name] = 0.4 * synthesize([Note(n.start, n.end, n.pitch, n.velocity, 0 if is_drum else program, is_drum)
                                          for n in notes])
        notes_written += len(notes)
        programs.add(0 if is_drum else program)
    everything.write(str(folder / "all_src.mid"))
    (folder / "metadata.yaml").write_text(yaml.safe_dump(metadata, sort_keys=True), encoding="utf-8")
    length = max(len(audio) for audio in renders.values())
    padded = {name: np.pad(audio, (0, length - len(audio))) for name, audio in renders.items()}
    for name, audio in padded.items():
        write_audio(folder / "stems" / f"{name}.flac", audio, RATE)
    if kind != "no_mix":
        write_audio(folder / "mix.flac", np.clip(sum(padded.values()), -1.0, 1.0), RATE)
    if kind != "ok":
        return None
    return ExpectedItem(id=track, split=folder.parent.name, num_notes=notes_written, programs=tuple(sorted(programs)),
                        duration=length / RATE, fields={"uuid": metadata["UUID"]})


def write(root: pathlib.Path) -> list[Fixture]:
    base = pathlib.Path(root) / FOLDER
    expected = []
    for track, split, stems, kind in TRACKS:
        item = write_track(base / split / track, track, stems, kind)
        if item is not None:
            expected.append(item)
    return [Fixture(config="redux", items=expected)]
