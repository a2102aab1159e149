"""A miniature of MusicNet with the MusicNet-EM labels (mt_music/datasets/layouts/musicnet_em.py says
where the layout comes from).

`<root>/musicnet/` as musicnet.tar.gz unpacks (`train_data/<id>.wav`, `train_labels/<id>.csv`,
`test_data/`, `test_labels/`; 44.1 kHz mono WAV, labels in MusicNet's csv format), `<root>/musicnet_metadata.csv`
(MusicNet's columns) and `<root>/musicnet_em/<id>.mid` as musicnet_em.zip unpacks (README.txt,
LICENSE.txt; type-1 MIDI at 480 ticks per quarter, one track per instrument, velocity 127, no control
changes). Recordings: 1727 (train), 1733 (MT3 validation), 1729 (MT3 test, though in train_data/),
1759 (in test_data/ but MT3 train; its label is truncated: damaged), 2194 (no EM label, as in the real
release: not listed) and a metadata row 2628 without a recording (not listed).
"""

from __future__ import annotations

import csv
import pathlib

import pretty_midi

from mt_music.audio.io import write_audio
from mt_music.audio.synthesis import synthesize
from mt_music.midi.notes import Note

from . import ExpectedItem, Fixture

METADATA_COLUMNS = ("id", "composer", "composition", "movement", "ensemble", "source", "transcriber", "catalog_name",
                    "seconds")
# id, folder, composer, composition, movement, ensemble, programs (GM, 0-based), kind
RECORDINGS = (
    ("1727", "train_data", "Schubert", "Piano Quintet in A major", "2. Andante", "Piano Quintet", (0, 40, 42), "ok"),
    ("1733", "train_data", "Schubert", "Piano Sonata in A major", "2. Andantino", "Solo Piano", (0,), "ok"),
    ("1729", "train_data", "Schubert", "Piano Quintet in A major", "4. Thema: Andantino, Variations", "Piano Quintet",
     (0, 41), "ok"),
    ("1759", "test_data", "Schubert", "Piano Sonata in A minor", "1. Allegro", "Solo Piano", (0,), "damaged"),
    ("2194", "train_data", "Beethoven", "String Quartet No 13 in B-flat major", "1. Adagio", "String Quartet",
     (40, 41, 42), "no_label"),
    ("2628", "test_data", "Bach", "Violin Sonata No 1 in G minor", "1. Adagio", "Solo Violin", (40,), "no_audio"),
)
EXPECTED_SPLITS = {"1727": "train", "1733": "validation", "1729": "test", "1759": "train"}
MISSING = {"2194": "label", "2628": "recording"}
DAMAGED_ID = "1759"
RATE = 44100


def label_notes(programs: tuple[int, ...], offset: int) -> list[Note]:
    """Three notes per instrument over ~2 s, velocity 127 as in MusicNet-EM."""
    notes = []
    for voice, program in enumerate(programs):
        for number in range(3):
            start = 0.1 + 0.6 * number + 0.05 * voice
            notes.append(Note(start, start + 0.5, 48 + 7 * voice + 2 * number + offset, 127, program))
    return notes


def write_label(path: pathlib.Path, notes: list[Note]) -> None:
    midi = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=120.0)
    for program in sorted({note.program for note in notes}):
        instrument = pretty_midi.Instrument(program=program)
        instrument.notes = [pretty_midi.Note(note.velocity, note.pitch, note.start, note.end)
                            for note in notes if note.program == program]
        midi.instruments.append(instrument)
    midi.write(str(path))


def write_musicnet_labels(path: pathlib.Path, notes: list[Note]) -> None:
    """MusicNet's own csv labels (times in samples at 44.1 kHz, instruments numbered from 1)."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["start_time", "end_time", "instrument", "note", "start_beat", "end_beat", "note_value"])
        for note in sorted(notes, key=lambda note: note.start):
            writer.writerow([round(note.start * RATE), round(note.end * RATE), note.program + 1, note.pitch,
                             round(note.start * 2, 3), 1.0, "Quarter"])


def write(root: pathlib.Path) -> list[Fixture]:
    root = pathlib.Path(root)
    music, labels = root / "musicnet", root / "musicnet_em"
    for folder in ("train_data", "train_labels", "test_data", "test_labels"):
        (music / folder).mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    (labels / "README.txt").write_text("MusicNetEM labels for the MusicNet dataset (fixture)\n")
    (labels / "LICENSE.txt").write_text("(c) Ben Maman and Amit Bermano 2022 (fixture)\n")
    rows, expected = [], []
    for index, (recording_id, folder, composer, composition, movement, ensemble, programs, kind) in enumerate(RECORDINGS):
        notes = label_notes(programs, index)
        audio = synthesize(notes)
        rows.append({"id": recording_id, "composer": composer, "composition": composition, "movement": movement,
                     "ensemble": ensemble, "source": "European Archive", "transcriber": "fixture",
                     "catalog_name": f"D{900 + index}", "seconds": round(len(audio) / RATE)})
        if kind != "no_audio":
            write_audio(music / folder / f"{recording_id}.wav", audio, RATE)
            write_musicnet_labels(music / folder.replace("_data", "_labels") / f"{recording_id}.csv", notes)
        if kind in ("ok", "damaged"):
            write_label(labels / f"{recording_id}.mid", notes)
        if kind == "damaged":
            data = (labels / f"{recording_id}.mid").read_bytes()
            (labels / f"{recording_id}.mid").write_bytes(data[: len(data) // 2])
        if kind in ("ok", "damaged"):
            fields = {"composer": composer, "composition": composition, "ensemble": ensemble}
            expected.append(ExpectedItem(id=recording_id, split=EXPECTED_SPLITS[recording_id], fields=fields,
                                         **({"num_notes": len(notes), "programs": tuple(sorted(set(programs))),
                                             "duration": len(audio) / RATE} if kind == "ok" else {})))
    with open(root / "musicnet_metadata.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=METADATA_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return [Fixture(config="mt3", items=expected, damaged={DAMAGED_ID: "its MusicNet-EM label is truncated"})]
