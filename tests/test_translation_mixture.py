"""The curriculum mixture over baked system records: deterministic batches, host-independent, limits counted."""

from __future__ import annotations

import numpy as np
import pytest
from system_records import record

from mt_music.data import curriculum, directions
from mt_music.data.translation_mixture import TranslationMixture
from mt_music.errors import UserError
from mt_music.vocabulary import Modality

ALL = curriculum.RECIPES["all_directions"]


def mixture(records=None, ramps=ALL, **kwargs) -> TranslationMixture:
    records = records if records is not None else [record(seed) for seed in range(4)]
    kwargs = {"encoder_length": 64, "decoder_length": 64, "step_scale": 0.0, **kwargs}
    return TranslationMixture(records, ramps, **kwargs)


def test_every_direction_appears_with_its_modalities():
    source = mixture()
    batch = source.batch(step=0, batch_size=96)
    seen = {int(t) for t in batch["task_id"]}
    assert seen == set(range(12))
    for row in range(96):
        direction = source.directions[int(batch["task_id"][row])]
        assert int(batch["encoder_modality"][row]) == direction.source
        assert int(batch["decoder_modality"][row]) == direction.target
        weights = batch["decoder_loss_weights"][row]
        assert weights[:, 0].sum() > 0 and (weights[:, 1:].sum() > 0) == direction.target.is_rvq


def test_batches_are_a_function_of_seed_and_step_and_split_across_hosts():
    source = mixture()
    whole = source.batch(step=5, batch_size=8)
    halves = [source.batch(step=5, batch_size=8, shard_index=i, num_shards=2) for i in range(2)]
    for name, value in whole.items():
        assert np.array_equal(value, np.concatenate([h[name] for h in halves])), name
    again = mixture().batch(step=5, batch_size=8)
    assert all(np.array_equal(whole[name], again[name]) for name in whole)
    assert not np.array_equal(whole["decoder_target_tokens"], source.batch(step=6, batch_size=8)["decoder_target_tokens"])


def test_curriculum_weights_reach_the_batches():
    ramps = curriculum.RECIPES["image_to_audio"]
    source = mixture(ramps=ramps, step_scale=1.0)
    assert source.task_weights(0) == pytest.approx({"image2lmx": 1.0, "midi2audio": 0.0, "image2audio": 0.0})
    assert {int(t) for t in source.batch(step=0, batch_size=32)["task_id"]} == {0}
    assert len({int(t) for t in source.batch(step=80_000, batch_size=64)["task_id"]}) == 3


def test_over_long_records_are_counted_not_cut():
    records = [record(0), record(1, columns=40), record(2, frames=200)]
    source = mixture(records, encoder_length=100, decoder_length=100)
    assert source.skipped["image2lmx"] == 1 and source.skipped["lmx2image"] == 1  # 3 × 40 codes > 100
    assert source.skipped["audio2midi"] == 1 and source.skipped["image2audio"] == 2  # one too wide, one too long
    assert list(source.eligible["image2lmx"]) == [0, 2] and list(source.eligible["midi2lmx"]) == [0, 1, 2]
    batch = source.batch(step=0, batch_size=64)
    assert batch["encoder_input_tokens"].shape == (64, 100, 4)


def test_a_direction_nothing_fits_is_an_error():
    with pytest.raises(UserError, match="no record fits direction"):
        mixture([record(0, columns=30)], ramps=[curriculum.Ramp("image2lmx")], encoder_length=40)
    with pytest.raises(UserError, match="unknown direction"):
        mixture(ramps=[curriculum.Ramp("image2score")])


def test_records_without_a_modality_are_left_out_of_its_directions():
    no_audio = record(0) | {"audio_codes": np.zeros((0, 0, 4), np.int64)}
    source = mixture([no_audio, record(1)])
    assert list(source.eligible["audio2midi"]) == [1] and list(source.eligible["image2lmx"]) == [0, 1]
    assert source.skipped["audio2midi"] == 0
    assert directions.Direction.parse("audio2midi").source is Modality.AUDIO


def test_crop_uses_long_records_cut_to_the_lengths_and_counts_them():
    records = [record(0), record(1, columns=40), record(2, frames=200)]
    source = mixture(records, encoder_length=100, decoder_length=100, crop=True)
    assert source.skipped["image2audio"] == 0 and list(source.eligible["image2audio"]) == [0, 1, 2]
    assert source.cropped["image2audio"] == 2 and source.cropped["midi2lmx"] == 0
    batch = source.batch(step=0, batch_size=64)
    rows = [i for i in range(64) if source.task_names[int(batch["task_id"][i])] == "audio2image"]
    assert rows and batch["decoder_target_tokens"].shape == (64, 100, 4)
    # a cropped long audio fills the encoder; its image target keeps the height frame first
    full = [i for i in rows if (batch["encoder_input_tokens"][i, :, 0] != 0).sum() == 100]
    assert full, "no cropped audio source drawn"
    eager = mixture(records, encoder_length=100, decoder_length=100)
    assert eager.skipped["image2audio"] == 2  # without crop the same records are left out


def test_task_names_follow_the_task_ids():
    source = mixture(ramps=curriculum.RECIPES["audio_to_image"], step_scale=1.0)
    assert source.task_names == ["audio2midi", "lmx2image", "audio2image"]
