"""The piece-level layout readers (MAESTRO v3, MusicNet + MusicNet-EM, Slakh2100-redux) on their fixtures.

Each fixture (tests/layout_fixtures/<name>.py) is a miniature of the published layout; the readers must
list exactly its items (ids, splits, existing files, programs, fields), leave out and report through
`missing()` the rows whose files are absent, and raise one LayoutError naming the missing file and the
expected layout for a directory that is not the dataset.
"""

from __future__ import annotations

import logging
import shutil

import pytest
from layout_fixtures import maestro as maestro_fixture
from layout_fixtures import musicnet_em as musicnet_fixture
from layout_fixtures import slakh2100 as slakh_fixture

from mt_music.audio.io import AudioError, audio_duration, load_audio
from mt_music.datasets import items
from mt_music.datasets.layouts import maestro, musicnet_em, slakh2100
from mt_music.midi.notes import MidiReadError, read_midi_notes

MODULES = {"maestro": (maestro, maestro_fixture), "musicnet_em": (musicnet_em, musicnet_fixture),
           "slakh2100": (slakh2100, slakh_fixture)}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """name → (root, fixtures) of every layout's fixture, written once."""
    base = tmp_path_factory.mktemp("layouts")
    return {name: (base / name, fixture.write(base / name)) for name, (_, fixture) in MODULES.items()}


def copy_of(written, name, tmp_path):
    root = tmp_path / name
    shutil.copytree(written[name][0], root)
    return root


def notes_of(item):
    if item.stems:
        notes = []
        for stem in item.stems:
            notes += [(note, stem.program, stem.is_drum) for note in read_midi_notes(stem.midi,
                                                                                     apply_sustain=item.apply_sustain)]
        return notes
    return [(note, note.program, note.is_drum) for note in read_midi_notes(item.midi, apply_sustain=item.apply_sustain)]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_reader_lists_the_fixture_items(written, name):
    module, _ = MODULES[name]
    root, fixtures = written[name]
    layout = module.LAYOUT
    assert layout.name == name and layout.level == "piece" and layout.modalities == ("midi", "audio")
    assert [fixture.config for fixture in fixtures] == list(layout.configs)
    for fixture in fixtures:
        listed = {item.id: item for item in layout.items(root, fixture.config)}
        assert sorted(listed) == sorted(expected.id for expected in fixture.items)
        assert set(fixture.damaged) <= set(listed)
        for expected in fixture.items:
            item = listed[expected.id]
            assert item.split == expected.split and item.split in items.SPLITS
            assert item.audio.is_absolute() and item.audio.is_file()
            assert (item.midi is None) == bool(item.stems)
            assert all(path.is_file() for path in [item.midi, *(stem.midi for stem in item.stems)] if path is not None)
            assert item.fields == expected.fields
            if expected.id in fixture.damaged:
                continue
            notes = notes_of(item)
            assert len(notes) == expected.num_notes
            assert tuple(sorted({program for _, program, _ in notes})) == expected.programs
            assert audio_duration(item.audio) == pytest.approx(expected.duration, abs=0.05)


def test_maestro_items_carry_pedal_sustain_and_metadata(written):
    root, (fixture,) = written["maestro"]
    listed = {item.id: item for item in maestro.LAYOUT.items(root, "v3")}
    train = listed[maestro_fixture.ROWS[0][2]]
    assert train.apply_sustain and train.midi.suffix == ".midi" and train.audio.suffix == ".wav"
    assert train.audio.parent.name == "2004" and train.audio.parent.parent.name == "maestro-v3.0.0"
    assert train.fields == {"composer": "Johann Sebastian Bach", "title": "Prelude and Fugue in A Minor, WTC I, BWV 865",
                            "year": 2004, "piece_id": train.id}
    sustained = read_midi_notes(train.midi, apply_sustain=True)
    dry = read_midi_notes(train.midi, apply_sustain=False)
    assert len(sustained) == len(dry)
    assert sum(n.end - n.start for n in sustained) > sum(n.end - n.start for n in dry) + 2.0  # the pedal holds them
    assert max(n.end for n in sustained) == pytest.approx(maestro_fixture.PEDAL_UP, abs=0.01)
    validation = listed[maestro_fixture.ROWS[1][2]]
    assert validation.split == "validation"
    import soundfile

    assert soundfile.info(str(validation.audio)).samplerate == 48000 and soundfile.info(str(validation.audio)).channels == 2
    with pytest.raises(AudioError):  # the damaged item is listed, but its audio cannot be decoded
        load_audio(listed[maestro_fixture.DAMAGED_ID].audio)


def test_maestro_missing_wav_is_reported_not_listed(written, caplog):
    root, _ = written["maestro"]
    with caplog.at_level(logging.WARNING):
        listed = [item.id for item in maestro.LAYOUT.items(root, "v3")]
    assert maestro_fixture.MISSING_ID not in listed
    assert maestro_fixture.MISSING_ID in caplog.text
    (gone_id, reason), = maestro.LAYOUT.missing(root, "v3")
    assert gone_id == maestro_fixture.MISSING_ID and "no audio file" in reason and reason.endswith(".wav")


def test_maestro_csv_wins_and_json_alone_is_read(written, tmp_path):
    root = copy_of(written, "maestro", tmp_path)
    folder = root / "maestro-v3.0.0"
    every = [item.id for item in maestro.LAYOUT.items(root, "v3")]
    lines = (folder / "maestro-v3.0.0.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (folder / "maestro-v3.0.0.csv").write_text("".join(lines[:2]), encoding="utf-8")  # header + the train row
    assert [item.id for item in maestro.LAYOUT.items(root, "v3")] == [maestro_fixture.ROWS[0][2]]
    (folder / "maestro-v3.0.0.csv").unlink()  # the (column-oriented) JSON alone
    assert [item.id for item in maestro.LAYOUT.items(root, "v3")] == every
    assert maestro.LAYOUT.missing(root, "v3")[0][0] == maestro_fixture.MISSING_ID
    # the dataset folder itself as manual_dir
    assert [item.id for item in maestro.LAYOUT.items(folder, "v3")] == every


def test_maestro_v2_style_json_records(written, tmp_path):
    import json

    root = copy_of(written, "maestro", tmp_path)
    folder = root / "maestro-v3.0.0"
    columns = json.loads((folder / "maestro-v3.0.0.json").read_text(encoding="utf-8"))
    records = [{column: values[key] for column, values in columns.items()} for key in columns["split"]]
    (folder / "maestro-v3.0.0.json").write_text(json.dumps(records), encoding="utf-8")
    (folder / "maestro-v3.0.0.csv").unlink()
    assert len(maestro.LAYOUT.items(root, "v3")) == 4


def test_musicnet_splits_follow_mt3_ids_not_folders(written):
    root, (fixture,) = written["musicnet_em"]
    listed = {item.id: item for item in musicnet_em.LAYOUT.items(root, "mt3")}
    assert {item_id: item.split for item_id, item in listed.items()} == musicnet_fixture.EXPECTED_SPLITS
    assert listed["1729"].audio.parent.name == "train_data" and listed["1729"].split == "test"
    assert listed["1759"].audio.parent.name == "test_data" and listed["1759"].split == "train"
    assert all(not item.apply_sustain and item.midi.parent.name == "musicnet_em" for item in listed.values())
    assert len(musicnet_em.TEST_IDS) == len(musicnet_em.VALIDATION_IDS) == 15
    assert not musicnet_em.TEST_IDS & musicnet_em.VALIDATION_IDS
    assert {"1729", "1776", "1813", "1893", "2118", "2621"} <= musicnet_em.TEST_IDS
    assert {"1733", "1765", "2611"} <= musicnet_em.VALIDATION_IDS
    assert musicnet_em.split_of("1759") == musicnet_em.split_of("2106") == "train"  # MusicNet's own test folder
    with pytest.raises(MidiReadError):  # the damaged label
        read_midi_notes(listed[musicnet_fixture.DAMAGED_ID].midi)
    notes = read_midi_notes(listed["1727"].midi, apply_sustain=False)
    assert {note.velocity for note in notes} == {127}


def test_musicnet_missing_label_and_recording_reported(written):
    root, _ = written["musicnet_em"]
    reported = dict(musicnet_em.LAYOUT.missing(root, "mt3"))
    assert sorted(reported) == sorted(musicnet_fixture.MISSING)
    assert "MusicNet-EM label" in reported["2194"] and "2194.mid" in reported["2194"]
    assert "no recording" in reported["2628"] and "2628.wav" in reported["2628"]


def test_musicnet_kaggle_and_nested_zip_layouts(written, tmp_path):
    root = copy_of(written, "musicnet_em", tmp_path)
    expected = [(item.id, item.split) for item in musicnet_em.LAYOUT.items(root, "mt3")]
    (root / "musicnet").rename(root / "inner")  # Kaggle: musicnet/musicnet/…
    (root / "musicnet").mkdir()
    (root / "inner").rename(root / "musicnet" / "musicnet")
    (root / "musicnet_em").rename(root / "em")  # the zip unpacked into a folder of its own name
    (root / "musicnet_em").mkdir()
    (root / "em").rename(root / "musicnet_em" / "musicnet_em")
    assert [(item.id, item.split) for item in musicnet_em.LAYOUT.items(root, "mt3")] == expected


def test_slakh_stems_follow_metadata(written):
    root, _ = written["slakh2100"]
    listed = {item.id: item for item in slakh2100.LAYOUT.items(root, "redux")}
    assert slakh_fixture.OMITTED_ID not in listed and slakh_fixture.MISSING_ID not in listed
    first = listed["Track00001"]
    assert first.split == "train" and first.audio.name == "mix.flac" and first.midi is None and first.apply_sustain
    assert [(stem.midi.name, stem.program, stem.is_drum) for stem in first.stems] == [
        ("S00.mid", 0, False), ("S01.mid", 33, False), ("S02.mid", 0, True)]  # S03 (not rendered) left out
    bass = read_midi_notes(first.stems[1].midi)
    assert {note.program for note in bass} == {0}  # the stem MIDI says 0: the item's program is metadata.yaml's
    assert [stem.program for stem in listed["Track01501"].stems] == [26, 48]
    assert listed["Track01501"].split == "validation" and listed["Track01877"].split == "test"


def test_slakh_missing_mix_and_orig_layout_duplicates(written, tmp_path):
    root = copy_of(written, "slakh2100", tmp_path)
    (reported_id, reason), = slakh2100.LAYOUT.missing(root, "redux")
    assert reported_id == slakh_fixture.MISSING_ID and "mix.flac" in reason
    # Slakh2100-orig keeps the duplicates in their splits: a redux-omitted id in test/ is left out and reported
    base = root / "slakh2100_flac_redux"
    shutil.move(base / "omitted" / slakh_fixture.OMITTED_ID, base / "test" / slakh_fixture.OMITTED_ID)
    shutil.rmtree(base / "omitted")
    assert slakh_fixture.OMITTED_ID not in [item.id for item in slakh2100.LAYOUT.items(root, "redux")]
    assert "omitted from Slakh2100-redux" in dict(slakh2100.LAYOUT.missing(root, "redux"))[slakh_fixture.OMITTED_ID]
    # a stem whose metadata says midi_saved but whose MIDI is gone makes the track unusable
    (base / "train" / "Track00001" / "MIDI" / "S02.mid").unlink()
    assert "S02.mid" in dict(slakh2100.LAYOUT.missing(root, "redux"))["Track00001"]
    # the split folders directly in manual_dir
    assert [item.id for item in slakh2100.LAYOUT.items(base, "redux")] == ["Track01501", "Track01877"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_layout_errors_name_the_missing_path_and_the_layout(written, tmp_path, name):
    module, _ = MODULES[name]
    root, (fixture,) = written[name]
    config = fixture.config
    for wrong in (tmp_path / "nowhere", root.parent):  # a missing directory; the folder above the dataset
        for call in (lambda path: module.LAYOUT.items(path, config), lambda path: module.LAYOUT.missing(path, config)):
            with pytest.raises(items.LayoutError) as error:
                call(wrong)
            message = str(error.value)
            assert str(wrong) in message and module.EXPECTED_LAYOUT in message
    with pytest.raises(items.LayoutError, match="no config"):
        module.LAYOUT.missing(root, "nonsense")


def test_missing_metadata_files_are_named(written, tmp_path):
    root = copy_of(written, "maestro", tmp_path)
    for metadata in ("maestro-v3.0.0.csv", "maestro-v3.0.0.json"):
        (root / "maestro-v3.0.0" / metadata).unlink()
    with pytest.raises(items.LayoutError, match="maestro-v3.0.0.csv is missing") as error:
        maestro.LAYOUT.items(root, "v3")
    assert maestro.EXPECTED_LAYOUT in str(error.value)
    with pytest.raises(items.LayoutError, match=r"2004.*is missing"):  # a year folder is not the dataset either
        maestro.LAYOUT.missing(root / "maestro-v3.0.0" / "2004", "v3")
    (root / "maestro-v3.0.0" / "maestro-v3.0.0.csv").write_text("composer,title\nX,Y\n", encoding="utf-8")
    with pytest.raises(items.LayoutError, match="no column canonical_composer"):
        maestro.LAYOUT.missing(root, "v3")

    for removed, message in (("musicnet_metadata.csv", "musicnet_metadata.csv is missing"),
                             ("musicnet_em", "musicnet_em is missing"), ("musicnet/test_data", "test_data is missing")):
        root = copy_of(written, "musicnet_em", tmp_path / removed.replace("/", "_"))
        shutil.rmtree(root / removed) if (root / removed).is_dir() else (root / removed).unlink()
        with pytest.raises(items.LayoutError, match=message) as error:
            musicnet_em.LAYOUT.items(root, "mt3")
        assert musicnet_em.EXPECTED_LAYOUT in str(error.value)

    root = copy_of(written, "slakh2100", tmp_path)
    base = root / "slakh2100_flac_redux"
    for split in ("train", "validation", "test"):
        shutil.rmtree(base / split)
    with pytest.raises(items.LayoutError, match=r"slakh2100_flac_redux/train is missing") as error:
        slakh2100.LAYOUT.items(root, "redux")
    assert slakh2100.EXPECTED_LAYOUT in str(error.value)
