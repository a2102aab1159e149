"""A miniature of MAESTRO v3.0.0 (mt_music/datasets/layouts/maestro.py says where the layout comes from).

`<root>/maestro-v3.0.0/` as the zip unpacks: `maestro-v3.0.0.csv` and the same rows in
`maestro-v3.0.0.json` (column-oriented, as v3 ships it), LICENSE, README and year folders with
`<name>.midi` (a type-1 piano file at 384 ticks per quarter with sustain-pedal control changes 64)
and `<name>.wav` (16-bit stereo, 44.1 or 48 kHz) in MAESTRO's file-name pattern. Rows: train,
validation and test items; a test item whose .wav is garbage (damaged: preparation must fail on it);
a test row whose .wav is absent (not listed; `missing()` reports it).
"""

from __future__ import annotations

import csv
import json
import pathlib

import numpy as np
import pretty_midi

from mt_music.audio.io import write_audio
from mt_music.audio.synthesis import synthesize

from . import ExpectedItem, Fixture

FOLDER = "maestro-v3.0.0"
COLUMNS = ("canonical_composer", "canonical_title", "split", "year", "midi_filename", "audio_filename", "duration")

# (split, year, file stem, composer, title, sample rate, kind); kind: "ok", "damaged" (garbage .wav), "no_wav"
ROWS = (
    ("train", 2004, "MIDI-Unprocessed_SMF_02_R1_2004_01-05_ORIG_MID--AUDIO_02_R1_2004_05_Track05_wav",
     "Johann Sebastian Bach", "Prelude and Fugue in A Minor, WTC I, BWV 865", 44100, "ok"),
    ("validation", 2018, "MIDI-Unprocessed_Chamber3_MID--AUDIO_10_R3_2018_wav--1",
     "Alban Berg", "Sonata Op. 1", 48000, "ok"),
    ("test", 2017, "MIDI-Unprocessed_066_PIANO066_MID--AUDIO-split_07-07-17_Piano-e_3-02_wav--3",
     "Frédéric Chopin", 'Etude Op. 10 No. 3 "Tristesse"', 44100, "ok"),
    ("test", 2008, "MIDI-Unprocessed_01_R1_2008_01-04_ORIG_MID--AUDIO_01_R1_2008_wav--1",
     "Franz Liszt", "Hungarian Rhapsody No. 2", 44100, "damaged"),
    ("test", 2009, "MIDI-Unprocessed_02_R1_2009_03-06_ORIG_MID--AUDIO_02_R1_2009_02_R1_2009_04_WAV",
     "Claude Debussy", "Clair de Lune", 44100, "no_wav"),
)
MISSING_ID = ROWS[4][2]
DAMAGED_ID = ROWS[3][2]
PEDAL_DOWN, PEDAL_UP = 0.4, 2.4  # seconds: notes released in between sound until PEDAL_UP


def performance(index: int) -> pretty_midi.PrettyMIDI:
    """Five to seven staccato piano notes (0.2 s each) over ~2.5 s, the pedal down from 0.4 to 2.4 s."""
    midi = pretty_midi.PrettyMIDI(resolution=384, initial_tempo=120.0)
    piano = pretty_midi.Instrument(program=0, name="Piano")
    pitches = [60 + index, 64 + index, 67 + index, 72 + index, 55 + index, 79, 48][: 5 + index % 3]
    for number, pitch in enumerate(pitches):
        start = 0.1 + 0.35 * number
        piano.notes.append(pretty_midi.Note(velocity=70 + 5 * number, pitch=pitch, start=start, end=start + 0.2))
    piano.control_changes += [pretty_midi.ControlChange(64, 100, PEDAL_DOWN), pretty_midi.ControlChange(64, 0, PEDAL_UP)]
    midi.instruments.append(piano)
    return midi


def write(root: pathlib.Path) -> list[Fixture]:
    folder = pathlib.Path(root) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "LICENSE").write_text("Creative Commons Attribution Non-Commercial Share-Alike 4.0 (fixture)\n")
    (folder / "README").write_text("Please visit http://g.co/magenta/maestro-dataset\n")
    rows, expected = [], []
    for index, (split, year, stem, composer, title, rate, kind) in enumerate(ROWS):
        (folder / str(year)).mkdir(exist_ok=True)
        midi_name, audio_name = f"{year}/{stem}.midi", f"{year}/{stem}.wav"
        midi = performance(index)
        midi.write(str(folder / midi_name))
        rows.append({"canonical_composer": composer, "canonical_title": title, "split": split, "year": year,
                     "midi_filename": midi_name, "audio_filename": audio_name, "duration": midi.get_end_time()})
        fields = {"composer": composer, "title": title, "year": year, "piece_id": stem}
        if kind == "ok":
            mono = synthesize(midi, sample_rate=rate)
            write_audio(folder / audio_name, np.stack([mono, 0.8 * mono], axis=1), rate)
            expected.append(ExpectedItem(id=stem, split=split, num_notes=len(midi.instruments[0].notes), programs=(0,),
                                         duration=len(mono) / rate, fields=fields))
        elif kind == "damaged":
            (folder / audio_name).write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8)
            expected.append(ExpectedItem(id=stem, split=split, fields=fields))
    with open(folder / "maestro-v3.0.0.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    columns = {column: {str(number): row[column] for number, row in enumerate(rows)} for column in COLUMNS}
    (folder / "maestro-v3.0.0.json").write_text(json.dumps(columns), encoding="utf-8")
    return [Fixture(config="v3", items=expected, damaged={DAMAGED_ID: "its .wav is not audio (garbage bytes)"})]
