"""The NumPy store of token records: a round trip equal to the TFRecord reader, no TensorFlow, damage named."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from system_records import record

from mt_music.data import record_store, token_mixture
from mt_music.errors import UserError


def test_shards_round_trip_records_exactly(tmp_path):
    records = [record(0) | {"metadata": "{}"}, record(1, columns=7, lmx="measure clef:F4")]
    assert record_store.write_shard(records, tmp_path / "train" / "tokens-00000.npz") == 2
    back = list(record_store.read(str(tmp_path / "train" / "tokens-*.npz")))
    assert len(back) == 2 and not list(tmp_path.glob("**/*.partial"))
    for original, restored in zip(records, back):
        assert set(original) == set(restored)
        for field, value in original.items():
            if isinstance(value, str):
                assert restored[field] == value and isinstance(restored[field], str)
            else:
                assert np.array_equal(restored[field], value) and restored[field].dtype == np.asarray(value).dtype


def test_damaged_or_missing_shards_are_user_errors(tmp_path):
    (tmp_path / "tokens-00000.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="tokens-00000.npz: not a readable token-record shard"):
        list(record_store.read(str(tmp_path / "*.npz")))
    with pytest.raises(UserError, match="no token-record shards match"):
        list(record_store.read(str(tmp_path / "nothing-*.npz")))


def test_the_mixture_reads_the_store_without_tensorflow(tmp_path):
    record_store.write_shard([record(seed) for seed in range(3)], tmp_path / "tokens-00000.npz")
    code = f"""
import importlib.abc, importlib.machinery, sys
class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "seqio", "tensorflow_datasets"):
            raise ImportError(name + " blocked")
sys.meta_path.insert(0, Blocked())
from mt_music.data import token_mixture
source = token_mixture.from_token_records(pattern={str(tmp_path / "tokens-*.npz")!r}, encoder_length=64,
                                          decoder_length=64, step_scale=0.0)
batch = source.batch(step=0, batch_size=24)
print(len(source.records), sorted(set(batch["task_id"].tolist())) != [], "tensorflow" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["3", "True", "False"]
    assert len(token_mixture.read_records(str(tmp_path / "tokens-*.npz"))) == 3
