"""The build steps as Apache Beam pipelines (DirectRunner, 2 workers) write what the local process pool writes:
the dataset preparation byte for byte, the corpus build's images and LMX byte for byte (its FluidSynth audio as
close as the synthesizer repeats itself), the score-video pairs file for file, the codec bake record for record."""

from __future__ import annotations

import json
import pathlib
import sys

import numpy as np
import pytest
import ytsv_fixture

from mt_music.audio.io import decode_flac
from mt_music.corpus import build
from mt_music.data import distributed
from mt_music.datasets import prepare, registry
from mt_music.errors import UserError
from mt_music.ytsv import pipeline

BEAM = dict(runner="DirectRunner", workers=2)
ROOT = pathlib.Path(__file__).resolve().parents[1]
CODECS = ROOT / "assets" / "codecs"
sys.path.insert(0, str(ROOT / "tools"))


def test_map_units_gives_every_result_with_its_index_on_either_runner():
    units = [-3, 1, -4, 1, -5, 9, -2]  # a function the Beam workers can import: a builtin
    local = sorted(distributed.map_units(abs, units, workers=2, progress=False))
    beam = list(distributed.map_units(abs, units, progress=False, **BEAM))
    assert local == beam == [(i, abs(u)) for i, u in enumerate(units)]
    with pytest.raises(UserError, match="Beam runner"):
        list(distributed.map_units(abs, units, runner="SparkyRunner"))


def test_dataset_preparation_is_byte_identical(tmp_path):
    from layout_fixtures import maestro

    maestro.write(tmp_path / "manual")
    layout = registry.layout("maestro")
    items = layout.items(tmp_path / "manual", "v3")
    results = {runner: prepare.prepare_all(layout, "v3", items, tmp_path / runner, runner=runner, workers=2,
                                           progress=False) for runner in ("local", "DirectRunner")}
    local, beam = (sorted(result.records) for result in results.values())
    assert [p.name for p in local] == [p.name for p in beam] and len(local) == 3
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(local, beam))
    assert [f["id"] for f in results["local"].failures] == [f["id"] for f in results["DirectRunner"].failures]


def test_corpus_build_renders_the_same_shards(tmp_path):
    spec = build.CorpusSpec(name="beam_check", count=None, composers=(), piece_ids=build.TINY_PIECES[1:3])
    results = {runner: build.build(spec, tmp_path / runner, runner=runner, workers=2, progress=False)
               for runner in ("local", "DirectRunner")}
    local, beam = ([build.read_shard(shard)[1] for shard in result.shards] for result in results.values())
    assert len(local) == len(beam) == 2
    for systems_a, systems_b in zip(local, beam):
        assert [s["id"] for s in systems_a] == [s["id"] for s in systems_b]
        for a, b in zip(systems_a, systems_b):
            assert a["_png"] == b["_png"] and a["lmx"] == b["lmx"] and a["notes"] == b["notes"]
            x, _ = decode_flac(a["_flac"])
            y, _ = decode_flac(b["_flac"])
            assert len(x) == len(y) and np.corrcoef(x, y)[0, 1] > 0.999


def test_score_video_pairs_are_the_same(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    truth = ytsv_fixture.make_video(videos)
    csv = ytsv_fixture.write_csv(tmp_path / "meta.csv", [truth.csv_row])
    for runner in ("local", "DirectRunner"):
        pipeline.run(videos, csv, tmp_path / runner, progress=False, runner=runner, workers=2)
    rows = {runner: [json.loads(line) for line in (tmp_path / runner / "pairs.jsonl").read_text().splitlines()]
            for runner in ("local", "DirectRunner")}
    assert rows["local"] == rows["DirectRunner"] and len(rows["local"]) == len(truth.slides)
    images = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.png"))
    assert images and all((tmp_path / "local" / p).read_bytes() == (tmp_path / "DirectRunner" / p).read_bytes()
                          for p in images)
    assert pathlib.Path(tmp_path / "DirectRunner" / truth.video_id / "audio.flac").is_file()


def test_token_bake_writes_the_same_shards(tmp_path):
    import bake_codec_tokens
    import build_dataset
    from layout_fixtures import olimpic

    from mt_music import errors
    from mt_music.data import token_records

    olimpic.write(tmp_path / "manual")
    assert errors.main_with_errors(build_dataset.main, ["olimpic/synthetic", "--manual-dir", str(tmp_path / "manual"),
                                                        "--data-dir", str(tmp_path / "data"), "--no-progress"]) == 0
    for runner in ("local", "DirectRunner"):
        assert errors.main_with_errors(bake_codec_tokens.main, [
            "--image-codec", f"{CODECS}/image_cpu", "--corpus", "olimpic/synthetic", "--data-dir", str(tmp_path / "data"),
            "--image-variants", "2", "--examples-per-shard", "1", "--out", str(tmp_path / runner), "--no-progress",
            "--runner", runner, "--workers", "2"]) == 0
    shards = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("tokens-*.tfrecord"))
    assert len(shards) >= 3
    assert shards == sorted(p.relative_to(tmp_path / "DirectRunner")
                            for p in (tmp_path / "DirectRunner").rglob("tokens-*.tfrecord"))
    for shard in shards:  # the same records (proto maps serialize in no fixed order, so not the same bytes)
        [local] = token_records.read(str(tmp_path / "local" / shard))
        [beam] = token_records.read(str(tmp_path / "DirectRunner" / shard))
        assert local.keys() == beam.keys()
        for key in local:
            assert np.array_equal(np.asarray(local[key]), np.asarray(beam[key])), (shard, key)
