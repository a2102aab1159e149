"""Every published dataset's builder on its fixture (tests/layout_fixtures/, in the dataset's real on-disk
layout): `tools/build_dataset.py` → `tfds.load` gives exactly the fixture's items, contents and failures;
the build resumes; the records bake with the shipped CPU codecs and the dataset's tasks yield examples."""

from __future__ import annotations

import importlib
import json
import os
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from mt_music import errors
from mt_music.audio.io import SAMPLE_RATE
from mt_music.datasets import builders, prepare, registry
from mt_music.image.staves import estimate_staff_height

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
CODECS = os.path.join(ROOT, "assets", "codecs")

import bake_codec_tokens  # noqa: E402
import build_dataset  # noqa: E402


@pytest.fixture(scope="module", params=registry.NAMES)
def built(request, tmp_path_factory):
    """The dataset's fixture written and every config built (the first with 2 worker processes)."""
    name = request.param
    base = tmp_path_factory.mktemp(name)
    fixtures = importlib.import_module(f"layout_fixtures.{name}").write(base / "manual")
    for number, fixture in enumerate(fixtures):
        code = errors.main_with_errors(build_dataset.main, [
            f"{name}/{fixture.config}", "--manual-dir", str(base / "manual"), "--data-dir", str(base / "data"),
            "--workers", "2" if number == 0 else "1", "--no-progress"])
        assert code == 0
    return name, base, fixtures


def _load(name: str, config: str, data_dir, split: str) -> dict[str, dict]:
    builder = builders.builder(f"{name}/{config}", data_dir)
    if split not in builder.info.splits:
        return {}
    dataset = tfds.load(f"{name}/{config}", split=split, data_dir=str(data_dir), shuffle_files=False)
    return {example["id"].decode(): example for example in dataset.as_numpy_iterator()}


def test_records_are_the_fixture_items_with_their_contents(built):
    name, base, fixtures = built
    layout = registry.layout(name)
    for fixture in fixtures:
        good = [item for item in fixture.items if item.id not in fixture.damaged]
        for split in ("train", "validation", "test"):
            records = _load(name, fixture.config, base / "data", split)
            assert sorted(records) == sorted(item.id for item in good if item.split == split), (fixture.config, split)
        for item in good:
            record = _load(name, fixture.config, base / "data", item.split)[item.id]
            metadata = json.loads(record["metadata"])
            if item.lmx is not None:
                assert record["lmx"].decode() == item.lmx
            if item.num_notes is not None:
                assert len(record["notes"]["pitch"]) == item.num_notes, item.id
            if item.programs is not None:
                assert tuple(sorted(set(record["notes"]["program"].tolist()))) == tuple(item.programs), item.id
            if item.duration is not None:
                assert abs(record["audio_samples"] / SAMPLE_RATE - item.duration) <= 0.05, item.id
            for key, value in item.fields.items():
                assert metadata[key] == json.loads(json.dumps(value)), (item.id, key)
            if layout.level == "system":  # normalised as the corpus: an 18 px staff
                assert abs(estimate_staff_height(record["image"][..., 0]) - 18) <= 1.5, item.id
            if "audio" in layout.modalities:
                assert record["audio_samples"] > 0 and record["sample_rate"] == SAMPLE_RATE


def test_failures_are_reported_and_the_build_resumes(built):
    name, base, fixtures = built
    layout = registry.layout(name)
    for fixture in fixtures:
        summary = json.loads((prepare.prepared_dir(base / "data", name, fixture.config) / "summary.json").read_text())
        assert {entry["id"] for entry in summary["failed"]} == set(fixture.damaged)
        assert all(entry["reason"] for entry in summary["failed"])
        assert summary["missing_files"] == [{"id": i, "reason": r}
                                            for i, r in registry.missing(name, base / "manual", fixture.config)]
        items = layout.items(base / "manual", fixture.config)
        again = prepare.prepare_all(layout, fixture.config, items, base / "data", progress=False)
        assert again.summary["prepared_this_run"] == 0  # resumed: nothing prepared twice, failures not retried
        retried = prepare.prepare_all(layout, fixture.config, items, base / "data", progress=False, retry_failed=True,
                                      workers=1)
        assert retried.summary["prepared_this_run"] == len(fixture.damaged)


def test_tasks_yield_examples_from_the_baked_records(built, monkeypatch):
    import seqio

    from mt_music import tasks
    from mt_music.tasks import datasets

    name, base, fixtures = built
    layout = registry.layout(name)
    monkeypatch.setenv(datasets.TOKENS_ROOT_ENV, str(base / "tokens"))
    for fixture in fixtures:
        row = next(row for row in datasets.PUBLISHED if row.name == f"{name}_{fixture.config}")
        codecs = (["--image-codec", f"{CODECS}/image_cpu"] if "image" in layout.modalities else []) + (
            ["--audio-codec", f"{CODECS}/audio_cpu"] if "audio" in layout.modalities else [])
        assert errors.main_with_errors(bake_codec_tokens.main, [
            *codecs, "--corpus", f"{name}/{fixture.config}", "--data-dir", str(base / "data"), "--no-shifts",
            "--out", str(base / "tokens" / row.name), "--no-progress"]) == 0
        split = next(split for split in row.splits if any(
            item.split == split and item.id not in fixture.damaged for item in fixture.items))
        names = [task for task in tasks.TASKS if task.startswith(f"{row.name}_")]
        assert names, row.name
        for task_name in names:
            task = seqio.get_mixture_or_task(task_name)
            [example] = list(task.get_dataset(None, split=split, shuffle=False, seed=0).take(1).as_numpy_iterator())
            assert example["inputs"].ndim == 2 and len(example["inputs"]) > 1, task_name
            assert example["targets"].ndim == 2 and len(example["targets"]) > 1, task_name
            assert np.all(example["targets"] >= 0), task_name


def test_wrong_folders_and_names_are_one_error_line(tmp_path, capsys):
    assert errors.main_with_errors(build_dataset.main, ["maestro/v3", "--manual-dir", str(tmp_path / "nope")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert errors.main_with_errors(build_dataset.main, ["maestro/v3", "--manual-dir", str(tmp_path)]) == 2
    assert "maestro-v3.0.0" in capsys.readouterr().err  # names the expected layout
    assert errors.main_with_errors(build_dataset.main, ["nodataset/x", "--manual-dir", str(tmp_path)]) == 2
    assert "unknown dataset 'nodataset'" in capsys.readouterr().err
    assert errors.main_with_errors(build_dataset.main, ["maestro/v9", "--manual-dir", str(tmp_path)]) == 2
    assert "no config 'v9'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written for a failed start
    assert errors.main_with_errors(build_dataset.main, ["--list"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in registry.NAMES)
