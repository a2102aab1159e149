"""The SeqIO system tasks, on token records written in the bake's real TFRecord format."""

from __future__ import annotations

import numpy as np
import pytest
import seqio
from system_records import record

from mt_music.data import directions, system_frames, token_records
from mt_music.tasks import datasets, system_tasks
from mt_music.vocabulary import Modality, UnifiedVocabulary

VOC = UnifiedVocabulary()


def write_split(folder, records) -> None:
    import tensorflow as tf

    folder.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(folder / token_records.FILE_PATTERN.format(index=0))) as writer:
        for r in records:
            notes = {name.split("/")[1]: r[name] for name in r if name.startswith("notes/")}
            writer.write(token_records.serialize(
                r["id"], image_codes=r["image_codes"], image_grids=r["image_grids"],
                image_shifts=np.zeros((len(r["image_grids"]), 2), np.int64), audio_codes=r["audio_codes"],
                audio_shifts=np.arange(len(r["audio_codes"])), lmx=r["lmx"], notes=notes))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("tokens")
    records = [record(seed) for seed in range(3)] + [record(9, columns=40)]
    for split in ("train", "validation", "test"):
        write_split(root / "fixture" / split, records)
    spec = datasets.DatasetSpec("fixture_corpus", str(root / "fixture"))
    names = system_tasks.register(spec, limits=directions.LengthLimits(image=100))
    return spec, names, records


def _expected(r, modality, output, example_index):
    rng = np.random.default_rng([0, example_index])
    image_variant, audio_variant = int(rng.integers(2)), int(rng.integers(3))
    return system_frames.frames(VOC, r, modality, output=output, image_variant=image_variant,
                                audio_variant=audio_variant)[0]


def test_one_task_per_direction_with_guessable_names(dataset):
    _, names, _ = dataset
    assert sorted(names) == sorted(f"fixture_corpus_{d.name}" for d in directions.ALL)
    assert "mt_music_corpus_small_image2lmx" in seqio.TaskRegistry.names()


@pytest.mark.parametrize("direction", [d.name for d in directions.ALL])
def test_task_examples_decode_back_to_their_source(dataset, direction):
    spec, _, records = dataset
    parsed = directions.Direction.parse(direction)
    task = seqio.get_mixture_or_task(f"fixture_corpus_{direction}")
    examples = list(task.get_dataset(None, split="validation", shuffle=False, seed=0).as_numpy_iterator())
    uses_image = Modality.IMAGE in (parsed.source, parsed.target)
    assert len(examples) == (3 if uses_image else 4)  # the wide record is over the image limit
    for example in examples:
        index = next(i for i, r in enumerate(records) if r["id"] == example["id"].decode())
        assert np.array_equal(example["inputs"], _expected(records[index], parsed.source, False, index))
        assert np.array_equal(example["targets"], _expected(records[index], parsed.target, True, index))
        assert example["inputs_positions"].shape == (len(example["inputs"]), 2)
        assert example["targets_positions"].shape == (len(example["targets"]), 2)
    if uses_image:
        assert system_tasks.over_limit_counts[(f"fixture_corpus_{direction}", "validation")] == 1
    if parsed.target is Modality.LMX:
        assert VOC.decode_lmx(examples[0]["targets"])[0] == system_frames.lmx_tokens(records[0])
    if parsed.source is Modality.AUDIO:
        codes = VOC.decode_audio(examples[0]["inputs"])[0]
        assert any(np.array_equal(codes, variant) for variant in records[0]["audio_codes"])


def test_the_gin_mixture_reads_the_baked_records(dataset, tmp_path):
    from mt_music.data import token_mixture
    from mt_music.errors import UserError

    spec, _, records = dataset
    source = token_mixture.from_token_records(pattern=spec.split_pattern("train"), encoder_length=128,
                                              decoder_length=128, step_scale=0.0)
    assert len(source.records) == len(records) and set(source.skipped) == {d.name for d in directions.ALL}
    assert source.batch(step=0, batch_size=4)["decoder_target_tokens"].shape == (4, 128, 4)
    with pytest.raises(UserError, match="no token records match"):
        token_mixture.from_token_records(pattern=str(tmp_path / "*.tfrecord"), encoder_length=8, decoder_length=8)
    with pytest.raises(UserError, match="unknown recipe 'omr'"):
        token_mixture.from_token_records(pattern=spec.split_pattern("train"), recipe="omr", encoder_length=8,
                                         decoder_length=8)


def test_materialized_store_gives_the_same_batches_as_the_tfrecords(dataset, tmp_path):
    import subprocess
    import sys

    from mt_music.data import token_mixture

    spec, _, _ = dataset
    root = spec.split_pattern("train").rsplit("/", 2)[0]
    run = lambda *args: subprocess.run([sys.executable, "tools/materialize_tokens.py", *args],  # noqa: E731
                                       capture_output=True, text=True, timeout=300)
    result = run(root, "--out", str(tmp_path / "store"))
    assert result.returncode == 0 and "3 shards written (12 records), 0 kept" in result.stdout, result.stderr
    assert "0 shards written (0 records), 3 kept" in run(root, "--out", str(tmp_path / "store")).stdout
    kwargs = dict(encoder_length=128, decoder_length=128, step_scale=0.0)
    from_tf = token_mixture.from_token_records(pattern=spec.split_pattern("train"), **kwargs)
    from_npz = token_mixture.from_token_records(pattern=str(tmp_path / "store/train/tokens-*.npz"), **kwargs)
    a, b = from_tf.batch(step=3, batch_size=12), from_npz.batch(step=3, batch_size=12)
    assert all(np.array_equal(a[name], b[name]) for name in a)
    missing = run(str(tmp_path / "nothing"), "--out", str(tmp_path / "x"))
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and "no <split>/tokens" in missing.stderr
