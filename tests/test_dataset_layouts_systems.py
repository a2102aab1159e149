"""The system-level dataset layouts (OLiMPiC, GrandStaff-LMX, BPSD) read their fixtures in the published on-disk
layouts: every listed item with its files, splits and fields; listed samples whose files are gone reported by
`missing()` and left out; one clear LayoutError for a missing folder, split file or wrong root."""

from __future__ import annotations

import inspect
import logging
import pathlib
import shutil
import subprocess
import sys

import pytest
from layout_fixtures import bpsd as bpsd_fixture
from layout_fixtures import grandstaff_lmx as grandstaff_fixture
from layout_fixtures import olimpic as olimpic_fixture

from mt_music.datasets import items
from mt_music.datasets.layouts import bpsd, grandstaff_lmx, olimpic
from mt_music.lmx.files import read_lmx_file
from mt_music.lmx.linearize import linearize

MODULES = {"olimpic": (olimpic, olimpic_fixture), "grandstaff_lmx": (grandstaff_lmx, grandstaff_fixture),
           "bpsd": (bpsd, bpsd_fixture)}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Each layout's fixture, written once: name → (manual dir, fixtures)."""
    out = {}
    for name, (_, fixture) in MODULES.items():
        root = tmp_path_factory.mktemp(name) / "manual"
        out[name] = (root, fixture.write(root))
    return out


@pytest.fixture
def copy_of(written, tmp_path):
    """A scratch copy of a layout's fixture, to damage."""
    def copy(name: str) -> pathlib.Path:
        root = tmp_path / name / "manual"
        shutil.copytree(written[name][0], root)
        return root
    return copy


def _tokens(item: items.Item) -> str:
    return " ".join(read_lmx_file(item.lmx) if item.lmx else linearize(item.musicxml))


@pytest.mark.parametrize("name", MODULES)
def test_every_fixture_item_is_listed_with_its_files_split_lmx_and_fields(written, name):
    module, _ = MODULES[name]
    root, fixtures = written[name]
    assert sorted(f.config for f in fixtures) == sorted(module.LAYOUT.configs)
    for fixture in fixtures:
        listed = module.LAYOUT.items(root, fixture.config)
        assert len({item.id for item in listed}) == len(listed), "ids are unique"
        by_id = {item.id: item for item in listed}
        assert set(by_id) == {expected.id for expected in fixture.items}
        assert set(fixture.damaged) <= set(by_id)  # damaged files are listed: preparation must fail on them
        for expected in fixture.items:
            item = by_id[expected.id]
            assert item.split == expected.split and item.split in items.SPLITS
            assert item.image.is_file() and item.image.is_absolute()
            assert (item.lmx or item.musicxml).is_file()
            assert _tokens(item) == expected.lmx
            assert {key: item.fields.get(key) for key in expected.fields} == expected.fields
            if expected.duration is not None:
                assert item.audio.is_file() and item.span is not None
                assert item.span[1] - item.span[0] == pytest.approx(expected.duration, abs=0.05)
        assert module.LAYOUT.missing(root, fixture.config) == []
        assert [i.id for i in module.LAYOUT.items(root, fixture.config)] == [i.id for i in listed]  # stable order


@pytest.mark.parametrize("name", MODULES)
def test_layouts_are_system_level_and_document_their_source(name):
    module, _ = MODULES[name]
    layout = module.LAYOUT
    assert layout.name == name and layout.level == "system"
    assert {"image", "lmx"} <= set(layout.modalities) <= {"image", "lmx", "midi", "audio"}
    assert layout.homepage.startswith("https://") and "@" in layout.citation and layout.description
    assert module.LAYOUT.scan is module.scan and list(inspect.signature(module.scan).parameters) == ["root", "config"]
    assert "http" in module.__doc__


def test_olimpic_dev_is_validation_and_scanned_has_no_train_split(written):
    root, _ = written["olimpic"]
    synthetic = olimpic.LAYOUT.items(root, "synthetic")
    scanned = olimpic.LAYOUT.items(root, "scanned")
    assert {i.split for i in synthetic} == {"train", "validation", "test"}
    assert {i.split for i in scanned} == {"validation", "test"}
    dev = (root / "olimpic-1.0-synthetic" / "samples.dev.txt").read_text().split()
    assert {i.id for i in synthetic if i.split == "validation"} == set(dev)
    assert not (root / "olimpic-1.0-scanned" / "samples.train.txt").exists()
    # the scanned release holds the LMX of an unscanned system, which it does not list
    assert (root / "olimpic-1.0-scanned" / "samples/6586696/p2-s1.lmx").is_file()
    assert "samples/6586696/p2-s1" not in {i.id for i in scanned}
    item = next(i for i in scanned if i.id == "samples/6586696/p1-s2")
    assert item.fields == {"dataset": "olimpic-1.0-scanned", "score_id": "6586696", "page": 1, "system": 2}
    assert item.musicxml.name == "p1-s2.musicxml"


def test_grandstaff_configs_read_the_clean_and_the_distorted_images(written):
    root, _ = written["grandstaff_lmx"]
    clean = {i.id: i for i in grandstaff_lmx.LAYOUT.items(root, "clean")}
    distorted = {i.id: i for i in grandstaff_lmx.LAYOUT.items(root, "distorted")}
    assert set(clean) == set(distorted)
    sample = "beethoven/piano-sonatas/sonata01-2/maj2_down_m-0-5"
    assert clean[sample].image.name == "maj2_down_m-0-5.jpg"
    assert distorted[sample].image.name == "maj2_down_m-0-5_distorted.jpg"
    assert clean[sample].lmx == distorted[sample].lmx and clean[sample].split == "train"
    assert clean[sample].fields == {"excerpt": "maj2_down_m-0-5", "composer": "beethoven", "collection": "piano-sonatas",
                                    "piece": "sonata01-2", "transposition": "maj2_down", "original": False,
                                    "measure_first": 0, "measure_last": 5}
    assert clean[sample].image.with_suffix(".krn").read_text().startswith("**kern\t**kern\n")


def test_bpsd_pairs_each_system_with_every_shipped_recording_over_its_bars(written):
    root, _ = written["bpsd"]
    listed = {i.id: i for i in bpsd.LAYOUT.items(root, "scanned")}
    assert {i.split for i in listed.values()} == {"test"}
    # Op002No3-01 has bar times for WK64 too, but no WK64 recording: no item
    assert sorted(listed) == ["Beethoven_Op002No3-01@0000_0/AS35", "Beethoven_Op002No3-01@0000_1/AS35",
                              "Beethoven_Op049No2-01@0000_0/AS35", "Beethoven_Op049No2-01@0000_0/FG58"]
    second = listed["Beethoven_Op002No3-01@0000_1/AS35"]
    assert second.span == pytest.approx((4.5, 8.5))  # bar 3 starts at 0.5 + 2 × 2.0 s; the end row is bar 5
    assert second.audio.name == "Beethoven_Op002No3-01_AS35.wav" and second.lmx.suffix == ".lmx"
    assert second.fields["pianist"] == "Artur Schnabel" and second.fields["recorded"] == 1935
    last = listed["Beethoven_Op049No2-01@0000_0/FG58"]
    assert last.span == pytest.approx((0.5, 0.5 + 2.75 * 1.4))  # to the fractional end row 3.75
    assert last.lmx is None and last.musicxml.suffix == ".musicxml" and last.image.suffix == ".jpg"


def test_bpsd_measure_span_follows_the_bar_times():
    rows = [(1.0, 0.5), (2.0, 2.5), (3.0, 4.0), (3.5, 5.0)]
    assert bpsd.measure_span(rows, 1, 1) == (0.5, 2.5)
    assert bpsd.measure_span(rows, 2, 3) == (2.5, 5.0)
    with pytest.raises(ValueError, match="bar 7"):
        bpsd.measure_span(rows, 7, 8)
    with pytest.raises(ValueError, match="no time after bar 4"):
        bpsd.measure_span(rows, 1, 4)


def _remove(path: pathlib.Path) -> None:
    assert path.is_file(), path
    path.unlink()


def test_listed_samples_whose_files_are_gone_are_reported_and_left_out(copy_of, caplog):
    root = copy_of("olimpic")
    _remove(root / "olimpic-1.0-synthetic" / "samples/6583477/p1-s2.png")
    _remove(root / "olimpic-1.0-scanned" / "samples/6586696/p1-s1.lmx")
    with caplog.at_level(logging.WARNING):
        synthetic = olimpic.LAYOUT.items(root, "synthetic")
    assert "samples/6583477/p1-s2" not in {i.id for i in synthetic} and len(synthetic) == 4
    assert any("samples/6583477/p1-s2" in record.getMessage() for record in caplog.records)
    [(sample, reason)] = olimpic.LAYOUT.missing(root, "synthetic")
    assert sample == "samples/6583477/p1-s2" and "p1-s2.png" in reason and "samples.train.txt" in reason
    assert [s for s, _ in olimpic.LAYOUT.missing(root, "scanned")] == ["samples/6586696/p1-s1"]

    root = copy_of("grandstaff_lmx")
    sample = "chopin/mazurkas/mazurka06-2/maj3_up_m-21-25"
    _remove(root / "grandstaff-lmx" / f"{sample}_distorted.jpg")
    assert grandstaff_lmx.LAYOUT.missing(root, "clean") == []  # its clean image is still there
    [(gone, reason)] = grandstaff_lmx.LAYOUT.missing(root, "distorted")
    assert gone == sample and "_distorted.jpg" in reason and "samples.dev.txt" in reason
    assert sample not in {i.id for i in grandstaff_lmx.LAYOUT.items(root, "distorted")}

    root = copy_of("bpsd")
    _remove(root / "bpsd_systems" / "Beethoven_Op002No3-01" / "Beethoven_Op002No3-01@0000_1.png")
    _remove(root / bpsd_fixture.DATASET / bpsd.MEASURE_DIR / "Beethoven_Op049No2-01_FG58.csv")
    gone = dict(bpsd.LAYOUT.missing(root, "scanned"))
    assert set(gone) == {"Beethoven_Op002No3-01@0000_1", "Beethoven_Op049No2-01@0000_0/FG58"}
    assert "image" in gone["Beethoven_Op002No3-01@0000_1"]
    assert "Beethoven_Op049No2-01_FG58.csv" in gone["Beethoven_Op049No2-01@0000_0/FG58"]
    assert sorted(i.id for i in bpsd.LAYOUT.items(root, "scanned")) == [
        "Beethoven_Op002No3-01@0000_0/AS35", "Beethoven_Op049No2-01@0000_0/AS35"]


def test_a_bad_bpsd_systems_row_is_reported_not_fatal(copy_of):
    root = copy_of("bpsd")
    table = root / "bpsd_systems" / "systems.csv"
    table.write_text(table.read_text() + "Op010No1-01;0;0;5;x\nSonata;0;1;1;2\nOp013-01;0;0;1;3\n")
    gone = [reason for _, reason in bpsd.LAYOUT.missing(root, "scanned")]
    assert len(gone) == 3
    assert "integers" in gone[0] and "not a BPSD piece name" in gone[1] and "image" in gone[2]
    assert len(bpsd.LAYOUT.items(root, "scanned")) == 4


def _layout_error(layout: items.Layout, root: pathlib.Path, config: str) -> str:
    with pytest.raises(items.LayoutError) as error:
        layout.items(root, config)
    return str(error.value)


@pytest.mark.parametrize(("name", "config", "split_file"), [
    ("olimpic", "synthetic", "olimpic-1.0-synthetic/samples.dev.txt"),
    ("olimpic", "scanned", "olimpic-1.0-scanned/samples.test.txt"),
    ("grandstaff_lmx", "clean", "grandstaff-lmx/samples.train.txt"),
    ("bpsd", "scanned", "bpsd_systems/systems.csv"),
])
def test_a_missing_split_file_is_one_error_naming_it_and_the_layout(copy_of, name, config, split_file):
    module, _ = MODULES[name]
    root = copy_of(name)
    _remove(root / split_file)
    message = _layout_error(module.LAYOUT, root, config)
    assert str(root / split_file) in message and module.EXPECTED_LAYOUT in message
    with pytest.raises(items.LayoutError):
        module.LAYOUT.missing(root, config)


def test_bpsd_says_what_it_lacks_when_the_system_annotations_are_absent(copy_of):
    root = copy_of("bpsd")
    shutil.rmtree(root / "bpsd_systems")
    message = _layout_error(bpsd.LAYOUT, root, "scanned")
    assert "bpsd_systems/systems.csv is missing" in message and "no system images" in message
    shutil.rmtree(root / bpsd_fixture.DATASET / "1_Audio")
    message = _layout_error(bpsd.LAYOUT, root, "scanned")
    assert str(root / bpsd_fixture.DATASET / "1_Audio") in message and "zenodo.org/records/12783403" in message


@pytest.mark.parametrize("name", MODULES)
def test_a_wrong_or_missing_root_is_one_error_with_the_expected_layout(written, tmp_path, name):
    module, _ = MODULES[name]
    root, fixtures = written[name]
    config = fixtures[0].config
    for wrong in (root.parent.parent, root / "nothing-here", tmp_path):
        message = _layout_error(module.LAYOUT, wrong, config)
        assert module.EXPECTED_LAYOUT in message and str(wrong) in message
    with pytest.raises(items.LayoutError, match="no config 'bogus'"):
        module.LAYOUT.items(root, "bogus")


def test_packed_archives_are_named_in_the_error(tmp_path):
    (tmp_path / "olimpic-1.0-scanned.2024-02-12.tar.gz").write_bytes(b"")
    assert "olimpic-1.0-scanned.2024-02-12.tar.gz is there: unpack it" in _layout_error(
        olimpic.LAYOUT, tmp_path, "scanned")
    (tmp_path / "Beethoven_Piano_Sonata_Dataset_v2.zip").write_bytes(b"")
    assert "unzip it" in _layout_error(bpsd.LAYOUT, tmp_path, "scanned")


def test_other_published_folder_arrangements_are_read_too(written, tmp_path):
    root, _ = written["olimpic"]
    release = root / "olimpic-1.0-synthetic"
    expected = [i.id for i in olimpic.LAYOUT.items(root, "synthetic")]
    assert [i.id for i in olimpic.LAYOUT.items(release, "synthetic")] == expected  # the release folder itself
    nested = tmp_path / "olimpic" / "olimpic-1.0-synthetic.2024-02-12"
    shutil.copytree(release, nested / "olimpic-1.0-synthetic")
    assert [i.id for i in olimpic.LAYOUT.items(tmp_path / "olimpic", "synthetic")] == expected
    repository = tmp_path / "datasets"  # the OLiMPiC repository's `make install-olimpic-synthetic`
    shutil.copytree(release, repository / "synthetic")
    assert [i.id for i in olimpic.LAYOUT.items(repository, "synthetic")] == expected

    root, _ = written["grandstaff_lmx"]
    apart = tmp_path / "grandstaff"  # GrandStaff's images unpacked beside the LMX release, not into it
    shutil.copytree(root / "grandstaff-lmx", apart / "grandstaff-lmx",
                    ignore=shutil.ignore_patterns("*.jpg"))
    shutil.copytree(root / "grandstaff-lmx", apart / "grandstaff", ignore=shutil.ignore_patterns("*.lmx", "*.txt"))
    listed = grandstaff_lmx.LAYOUT.items(apart, "distorted")
    assert len(listed) == 4 and all(i.image.is_relative_to(apart / "grandstaff") for i in listed)

    root, _ = written["bpsd"]
    inside = tmp_path / "bpsd"  # the unzipped folder as the manual dir, the user's annotations inside it
    shutil.copytree(root / bpsd_fixture.DATASET, inside)
    shutil.copytree(root / "bpsd_systems", inside / "bpsd_systems")
    assert len(bpsd.LAYOUT.items(inside, "scanned")) == 4


def test_the_layout_modules_do_not_import_tensorflow():
    code = ("import sys; import mt_music.datasets.layouts.olimpic, mt_music.datasets.layouts.grandstaff_lmx, "
            "mt_music.datasets.layouts.bpsd; print('tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
