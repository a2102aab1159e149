"""Codec training end to end: a tiny image codec overfits; the gin entry point trains, resumes and
writes summaries; a trained codec loads for inference; bake → records → decode round-trips."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import codec_testing
import numpy as np
import pytest
from PIL import Image

from mt_music import errors
from mt_music.codecs import image_rqvae, models, quantizer, tokenizer
from mt_music.codecs.trainer import CodecTrainer
from mt_music.data import codec_windows as codec_data
from mt_music.data import token_bake
from mt_music.training import partitioning

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

TINY_IMAGE = image_rqvae.ImageCodecConfig(channels=16, channel_multipliers=(1, 1, 2, 2, 2), num_res_blocks=1,
                                          z_channels=32, embed_dim=32, norm_groups=8,
                                          quantizer=quantizer.QuantizerConfig(codebook_size=64))


@pytest.mark.slow
def test_tiny_image_codec_overfits_a_few_crops():
    """Reconstruction MSE of 8 engraved crops (frozen codebooks, all stages) falls ≥ 10× in 80 steps."""
    model = models.ImageCodecModel(TINY_IMAGE)
    crops = codec_testing.image_crops(8, 32)
    partitioner = partitioning.Partitioner(partitioning.make_mesh())  # 8-way data parallel
    codec_trainer = CodecTrainer(model, partitioner, {"images": crops.shape}, codec_testing.constant_optimizer(3e-3))
    state = codec_trainer.create_state(0)
    batch = codec_trainer.global_batch({"images": crops}, len(crops))
    before, _ = codec_trainer.eval_step(state, batch)
    for _ in range(80):
        state, metrics = codec_trainer.train_step(state, batch)
    after, reconstruction = codec_trainer.eval_step(state, batch)
    assert float(after["loss/mse"]) * 10 <= float(before["loss/mse"]), (before, after)
    assert int(state.skipped_steps) == 0 and float(metrics["vq/perplexity_0"]) > 2
    assert np.asarray(reconstruction).shape == crops.shape


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A few steps of codecs/image_tiny.gin on a directory of engraved systems, then a resume."""
    base = tmp_path_factory.mktemp("image_codec")
    images_dir = base / "systems"
    images_dir.mkdir()
    for i, image in enumerate(codec_testing.engraved_systems()):
        Image.fromarray(image).save(images_dir / f"system{i}.png")
    model_dir = base / "run"
    command = [sys.executable, "-m", "mt_music.codecs.train", "--gin_file=codecs/image_tiny.gin",
               f"--gin.MODEL_DIR='{model_dir}'", "--gin.codec_windows.ImageCrops.images=@codec_windows.directory_images()",
               f"--gin.codec_windows.directory_images.directory='{images_dir}'", "--gin.BATCH_SIZE=8",
               "--gin.codec_windows.ImageCrops.crop_height=32", "--gin.codec_windows.ImageCrops.crop_width=32",
               "--gin.train.train.log_every=2", "--gin.train.train.summary_every=3",
               "--gin.train.train.checkpoint_every=3", "--gin.train.train.tensorboard=False",
               "--gin.trainer.OptimizerConfig.total_steps=5"]  # the schedule the resume extends the run to
    first = subprocess.run(command + ["--gin.TRAIN_STEPS=3"], capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    second = subprocess.run(command + ["--gin.TRAIN_STEPS=5"], capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    return base, images_dir, model_dir, second.stderr


def test_gin_entry_point_trains_resumes_and_writes_summaries(image_run):
    _, _, model_dir, log = image_run
    assert "starting at step 3 of 5" in log
    assert sorted(os.listdir(model_dir / "checkpoints")) == ["3", "5"]
    records = [json.loads(line) for line in open(model_dir / "metrics.jsonl")]
    steps = [r["step"] for r in records if "loss/total" in r]
    assert steps == [2, 3, 4, 5]  # the logged steps of both runs (every 2 and the last)
    assert all(np.isfinite(r["loss/total"]) for r in records if "loss/total" in r)
    assert any("eval/loss/mse" in r for r in records)
    samples = os.listdir(model_dir / "samples")
    assert "reconstruction_3_0.png" in samples and "reconstruction_5_0.png" in samples
    spec = json.load(open(model_dir / "codec.json"))
    assert spec["kind"] == "image" and spec["config"]["channels"] == 16


def test_loaded_codec_matches_the_model(image_run):
    _, _, model_dir, _ = image_run
    codec = tokenizer.load_codec(model_dir)
    assert codec.step == 5 and codec.kind == "image"
    pixels = codec_testing.image_crops(1, 64, seed=3)[0, ..., 0]
    codes = codec.encode_image(pixels)
    assert codes.shape == (4, 4, 4) and codes.dtype == np.int32
    assert (codes >= 0).all() and (codes < 256).all()
    decoded = codec.decode_image(codes)
    reconstruction = np.asarray(codec.model.reconstruct(codec.variables, pixels[None, ..., None]))[0, ..., 0]
    assert decoded.shape == pixels.shape
    np.testing.assert_allclose(decoded, np.clip(reconstruction, -1, 1), atol=1e-4)
    with pytest.raises(ValueError, match="multiples of 16"):
        codec.encode_image(np.zeros((20, 32), np.float32))
    with pytest.raises(ValueError, match="image codec"):
        codec.encode_audio(np.zeros(1000, np.float32))
    with pytest.raises(ValueError, match="codes must be in"):
        codec.decode_image(np.full((1, 1, 4), 999))


def test_bake_then_decode_round_trip(image_run, tmp_path, capsys):
    import bake_codec_tokens
    import decode_codec_tokens

    from mt_music.data import token_records
    from mt_music.image import pixels, preprocessing

    _, images_dir, model_dir, _ = image_run
    out = tmp_path / "tokens"
    args = ["--image-codec", str(model_dir), "--images-dir", str(images_dir), "--out", str(out),
            "--examples-per-shard", "1", "--no-progress"]
    assert bake_codec_tokens.main(args) == 0
    records = list(token_records.read(str(out / "all" / "*.tfrecord")))
    assert [r["id"] for r in records] == ["system0.png", "system1.png"]
    codec = tokenizer.load_codec(model_dir)
    for record, image in zip(records, codec_testing.engraved_systems()):
        image = np.round(pixels.whiten_background(image.astype(np.float32)))  # as the bake reads files
        codes = record["image_codes"]
        assert codes.shape[0] == 32 and codes.shape[-1] == 4  # 8×4 shift variants
        assert record["image_shifts"].tolist()[:2] == [[0, 0], [1, 0]]
        padded = preprocessing.pad_to_multiple(pixels.to_model_range(image.astype(np.float32)), fill=1.0)
        np.testing.assert_array_equal(token_records.image_variant(record, 0), codec.encode_image(padded))
        shifted = preprocessing.shifted_padded_image(pixels.to_model_range(image.astype(np.float32)), 7, 3)
        np.testing.assert_array_equal(token_records.image_variant(record, 31), codec.encode_image(shifted))
    # resume: every shard exists with the same codec, nothing is re-encoded
    codecs = json.loads((out / "bake.json").read_text())["codecs"]
    summary = token_bake.bake_split(token_bake.Baker(codec, None), token_bake.directory_examples(
        token_bake.directory_files(str(images_dir), None)), 2, out / "all", 1, False, "bake", codecs=codecs)
    assert summary == {"examples_written": 0, "examples_skipped_existing": 2}
    # decode: tokens → PNG equals the codec's own decoding
    decoded_dir = tmp_path / "decoded"
    assert decode_codec_tokens.main(["--records", str(out / "all" / "*.tfrecord"), "--image-codec", str(model_dir),
                                     "--out", str(decoded_dir)]) == 0
    png = np.asarray(Image.open(decoded_dir / "system0.png.shift0.png"))
    expected = np.round((codec.decode_image(token_records.image_variant(records[0], 0)) + 1) * 127.5).astype(np.uint8)
    np.testing.assert_array_equal(png, expected)
    # another checkpoint of the codec into the same --out: refused before anything is written, or re-baked
    shards = {path: path.read_bytes() for path in (out / "all").iterdir()}
    assert errors.main_with_errors(bake_codec_tokens.main, args + ["--image-codec-step", "3"]) == 2
    assert "2 shards baked with other codecs" in capsys.readouterr().err
    assert shards == {path: path.read_bytes() for path in (out / "all").iterdir()}
    assert bake_codec_tokens.main(args + ["--image-codec-step", "3", "--overwrite"]) == 0
    assert json.loads((out / "bake.json").read_text())["splits"]["all"]["examples_written"] == 2
    rebaked = list(token_records.read(str(out / "all" / "*.tfrecord")))
    step3 = tokenizer.load_codec(model_dir, 3)
    padded = preprocessing.pad_to_multiple(pixels.to_model_range(np.round(pixels.whiten_background(
        codec_testing.engraved_systems()[0].astype(np.float32)))), fill=1.0)
    np.testing.assert_array_equal(token_records.image_variant(rebaked[0], 0), step3.encode_image(padded))


def test_directory_sources_and_windows(tmp_path):
    with pytest.raises(codec_data.DataError, match="no such directory"):
        codec_data.directory_images(tmp_path / "missing")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(codec_data.DataError, match="none of the images"):
        codec_data.directory_images(tmp_path)
    images = list(codec_testing.engraved_systems())
    crops = codec_data.ImageCrops(images, crop_height=32, crop_width=48, seed=0)
    batch = crops.batch(step=7, batch_size=4)["images"]
    assert batch.shape == (4, 32, 48, 1) and batch.min() >= -1 and batch.max() <= 1
    np.testing.assert_array_equal(crops.batch(7, 4, shard_index=1, num_shards=2)["images"], batch[2:])
    with pytest.raises(ValueError, match="multiples of 16"):
        codec_data.ImageCrops(images, crop_height=30)
    waveforms = [codec_testing.performance(0.5), codec_testing.performance(0.3, seed=1)]
    codec_data.save_arrays(tmp_path / "export.npz", images=images, waveforms=waveforms)
    for loaded, saved in zip(codec_data.load_images(tmp_path / "export.npz"), images):
        np.testing.assert_array_equal(loaded, saved)
    for loaded, saved in zip(codec_data.load_audio(tmp_path / "export.npz"), waveforms):
        np.testing.assert_array_equal(loaded, saved)
    codec_data.save_arrays(tmp_path / "images.npz", images=images)
    with pytest.raises(codec_data.DataError, match="holds no audio"):
        codec_data.load_audio(tmp_path / "images.npz")
    clips = codec_data.AudioClips([codec_testing.performance(0.5)], clip_samples=4096)
    audio = clips.batch(step=0, batch_size=2)["audio"]
    assert audio.shape == (2, 4096, 1) and np.abs(audio).max() > 0.01


def test_codec_modules_import_no_tensorflow():
    code = ("import sys; import mt_music.codecs.train, mt_music.codecs.tokenizer, mt_music.codecs.evaluation, "
            "mt_music.data.codec_windows; print(sorted(m for m in ('tensorflow', 'seqio') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr


@pytest.mark.parametrize("command", [["-m", "mt_music.codecs.train"], ["tools/bake_codec_tokens.py"],
                                     ["tools/decode_codec_tokens.py"], ["tools/eval_codec.py"],
                                     ["tools/benchmark_codec.py"], ["tools/export_codec_data.py"]])
def test_codec_commands_explain_themselves(command):
    result = subprocess.run([sys.executable, *command, "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    expected = {"-m": "--gin_file", "tools/benchmark_codec.py": "--gin_file",
                "tools/export_codec_data.py": "--audio-only"}.get(command[0], "--image-codec")
    assert expected in result.stdout and len(result.stdout) > 500, result.stdout


def test_bake_refuses_bad_arguments(tmp_path, capsys):
    import bake_codec_tokens

    with pytest.raises(SystemExit):
        bake_codec_tokens.main(["--out", str(tmp_path)])  # no codec
    assert "--image-codec and/or --audio-codec" in capsys.readouterr().err
    assert errors.main_with_errors(bake_codec_tokens.main, ["--image-codec", str(tmp_path), "--corpus", "tiny",
                                                            "--out", str(tmp_path)]) == 2
    assert "not a codec directory" in capsys.readouterr().err


def test_corpus_sources_fail_clearly(tmp_path):
    with pytest.raises(codec_data.DataError, match="no corpus config 'nope'"):
        codec_data.corpus_images("nope", data_dir=str(tmp_path))
    with pytest.raises(codec_data.DataError, match="is not built in"):
        codec_data.corpus_audio("tiny", data_dir=str(tmp_path))
