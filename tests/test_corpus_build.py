"""A tiny corpus built from scratch, read back through TFDS, and checked for conformance."""

import json
import pathlib
import shutil

import numpy as np
import pytest

from mt_music import audio
from mt_music.corpus import build, checks

if shutil.which("rsvg-convert") is None:
    pytest.skip("rsvg-convert missing (apt-get install librsvg2-bin)", allow_module_level=True)
pytest.importorskip("fluidsynth", reason="FluidSynth missing (apt-get install libfluidsynth3)")
tf = pytest.importorskip("tensorflow")
tfds = pytest.importorskip("tensorflow_datasets")
from mt_music.corpus import tfds_builder  # noqa: E402  (registers mt_music_corpus)

SPLITS = ("train", "validation", "test")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("corpus")
    builder = tfds_builder.builder("tiny", data_dir, tfds_builder.BuildOptions(workers=1, progress=False))
    tfds_builder.prepare(builder)
    return data_dir, builder


def test_tiny_build_reads_back_through_tfds(tiny):
    data_dir, builder = tiny
    summary = builder.build_result.summary
    assert summary["pieces"] == {"selected": 4, "rendered_ok": 4, "failed": 0}
    assert set(summary["splits"]) == set(SPLITS)
    assert summary["systems"] >= 4 and summary["systems_dropped"] == 0
    assert set(summary["token_lengths"]) == {"lmx", "midi", "image", "audio"}
    assert summary["bytes_per_hour_audio"] > 0 and summary["hours"]["system_audio"] > 0

    total = 0
    for split in SPLITS:
        dataset = tfds.load("mt_music_corpus/tiny", split=split, data_dir=str(data_dir))
        for example in dataset.as_numpy_iterator():
            total += 1
            image = example["image"]
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 1
            assert image.shape[0] <= 416 and image.shape[1] <= 2400
            tokens = example["lmx"].decode().split()
            assert tokens[0] == "measure" and "clef:G2" in tokens
            waveform = tfds_builder.decode_audio(example["audio_flac"])
            assert len(waveform) == example["audio_samples"] and example["sample_rate"] == audio.SAMPLE_RATE
            start, end = example["span"]
            assert end > start >= 0
            notes = tfds_builder.notes_of(example)
            assert notes and all(0 <= n.start < n.end <= end - start + 1e-6 for n in notes)
            metadata = json.loads(example["metadata"])
            assert {"augmentation", "soundfont", "font", "tempo_qpm", "lengths"} <= set(metadata)
            assert json.loads(metadata["augmentation"])["variant"] == 0
            assert example["piece_id"].decode() in build.TINY_PIECES
    assert total == summary["systems"]


def test_tiny_build_conforms(tiny):
    _, builder = tiny
    report = checks.CheckReport()
    for shard in builder.build_result.shards:
        report.merge(checks.check_shard(shard))
    assert report.examples == builder.build_result.summary["systems"]
    assert report.ok, checks.format_report(report)


def test_piece_records_and_resume(tiny):
    data_dir, builder = tiny
    pieces_builder = tfds_builder.builder("tiny_pieces", data_dir, tfds_builder.BuildOptions(workers=1, progress=False))
    tfds_builder.prepare(pieces_builder)
    assert pieces_builder.build_result.summary["rendered_now"] == 0  # the shards were reused
    records = [r for split in SPLITS for r in pieces_builder.as_dataset(split=split).as_numpy_iterator()]
    assert sorted(r["piece_id"].decode() for r in records) == sorted(build.TINY_PIECES)
    for record in records:
        spans = record["system_spans"]
        assert spans[0, 0] == 0 and np.allclose(spans[1:, 0], spans[:-1, 1])
        assert spans[-1, 1] == pytest.approx(record["duration"])
        assert len(tfds_builder.decode_audio(record["audio_flac"])) == record["audio_samples"]
        assert "<print new-system=\"yes\"" in record["musicxml"].decode() or len(spans) == 1


def test_failures_are_listed_not_dropped(tmp_path):
    spec = build.CorpusSpec(name="failing", count=None, composers=(),
                            piece_ids=("beach/prayer_of_a_tired_child",))
    result = build.build(spec, tmp_path, workers=1, progress=False)
    assert result.shards == [] and result.summary["pieces"]["failed"] == 1
    failure = result.summary["failures"][0]
    assert failure["piece_id"] == "beach/prayer_of_a_tired_child" and "keyboard" in failure["reason"]
    assert list(pathlib.Path(result.shard_dir).glob("*.failed.json"))
    again = build.build(spec, tmp_path, workers=1, progress=False)  # remembered, not re-rendered
    assert again.summary["failures"] == result.summary["failures"]
