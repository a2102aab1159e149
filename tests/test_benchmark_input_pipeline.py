"""The input-pipeline benchmark runs every path on a small bake and prints figures next to the consumption."""

from __future__ import annotations

import json
import pathlib
import sys

import pytest
from system_records import record
from test_system_tasks import write_split

from mt_music.data import record_store
from mt_music.errors import UserError

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "tools"))
import benchmark_input_pipeline  # noqa: E402


def test_every_path_is_timed_against_the_base_model_consumption(tmp_path, capsys, monkeypatch):
    records = [record(seed) for seed in range(4)]
    write_split(tmp_path / "tokens" / "fixture" / "train", records)
    record_store.write_shard(records, tmp_path / "store" / "tokens-00000.npz")
    monkeypatch.chdir(pathlib.Path(__file__).parents[1])
    assert benchmark_input_pipeline.main(["--tokens", str(tmp_path / "tokens" / "fixture"), "--examples", "12",
                                          "--npz", str(tmp_path / "store"), "--paths", "tfrecord", "npz"]) == 0
    lines = capsys.readouterr().out.splitlines()
    figures = json.loads(lines[-1])
    assert 20 < figures["consumed_examples_per_s"] < 40  # base, 3902 + 3902 frames, 50 % of an H100
    for path in ("tfrecord", "npz"):
        assert figures[path]["examples_per_s"] > 0
        assert figures[path]["ratio_to_consumption"] == pytest.approx(
            figures[path]["examples_per_s"] / figures["consumed_examples_per_s"])
    with pytest.raises(UserError, match="no token records"):
        benchmark_input_pipeline.main(["--tokens", str(tmp_path / "nothing")])
