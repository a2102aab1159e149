"""The CPU image codec (patch RVQ by residual k-means) and the fitting entry point, on verovio engravings."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from codec_testing import engraved_systems

from mt_music.codecs import evaluation, fitted, patch_image, residual_kmeans, tokenizer
from mt_music.data import codec_windows
from mt_music.errors import UserError
from mt_music.image import pixels, preprocessing

TINY = patch_image.PatchImageConfig(codebook_size=32, shifts_per_image=4, kmeans_iterations=5, refinement_rounds=1,
                                    refinement_beam_width=2,
                                    beam_width=2)


@functools.cache
def tiny_codec() -> patch_image.PatchImageCodec:
    return patch_image.PatchImageCodec.fit(TINY, list(engraved_systems()))


def padded(image: np.ndarray) -> np.ndarray:
    return preprocessing.pad_to_multiple(pixels.to_model_range(image), fill=1.0)


def test_residual_kmeans_search_and_refinement_lower_the_distortion():
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(3000, 8)).astype(np.float32) * np.linspace(3, 0.5, 8)
    config = residual_kmeans.KMeansConfig(num_codebooks=3, codebook_size=16, iterations=8)
    books = residual_kmeans.fit(rows, config)
    assert np.array_equal(books, residual_kmeans.fit(rows, config)), "a fit is a pure function of data and config"

    def mse(codebooks, beam):
        return float(np.mean((rows - residual_kmeans.decode(residual_kmeans.encode(rows, codebooks, beam), codebooks)) ** 2))

    stage_errors = [mse(books[:k], 1) for k in (1, 2, 3)]
    assert stage_errors[0] > stage_errors[1] > stage_errors[2]
    assert mse(books, 4) < mse(books, 1)
    refined = residual_kmeans.refine(rows, books, rounds=2, beam_width=4)
    assert mse(refined, 4) < mse(books, 4)


def test_round_trip_keeps_the_ink_and_every_stage_adds_detail():
    codec = tiny_codec()
    image = padded(engraved_systems()[0])
    codes = codec.encode_image(image)
    assert codes.shape == (image.shape[0] // 16, image.shape[1] // 16, 4) and codes.dtype == np.int32
    assert 0 <= codes.min() and codes.max() < 32
    decoded = codec.decode_image(codes)
    assert decoded.shape == image.shape and set(np.unique(decoded)) <= {-1.0, 1.0}
    errors = [np.mean(codec.decode_image(codes[..., :k]) != codec.binarize(image)) for k in (1, 2, 4)]
    assert errors[0] > errors[1] > errors[2], errors
    assert evaluation.ink_recall(image, decoded) > 0.6 and evaluation.ink_precision(image, decoded) > 0.6


def test_batched_encoding_equals_one_by_one_and_checks_shapes():
    codec = tiny_codec()
    images = [padded(image) for image in engraved_systems()]
    batched = codec.encode_images(images)
    for image, codes in zip(images, batched):
        assert np.array_equal(codes, codec.encode_image(image))
    with pytest.raises(ValueError, match="multiples of 16"):
        codec.encode_image(np.ones((20, 32), np.float32))
    with pytest.raises(ValueError, match="codes must be in"):
        codec.decode_image(np.full((1, 1, 4), 32))


def test_saved_codec_loads_through_the_tokenizer_and_refuses_a_damaged_file(tmp_path):
    codec = tiny_codec()
    codec.save(tmp_path / "codec")
    loaded = tokenizer.load_codec(tmp_path / "codec")
    assert isinstance(loaded, patch_image.PatchImageCodec) and loaded.kind == "image" and loaded.step is None
    assert loaded.config == codec.config
    image = padded(engraved_systems()[1])
    assert np.array_equal(loaded.encode_image(image), codec.encode_image(image))
    arrays = tmp_path / "codec" / fitted.ARRAYS_FILE
    arrays.write_bytes(arrays.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(UserError, match="checksum"):
        tokenizer.load_codec(tmp_path / "codec")
    os.remove(tmp_path / "codec" / fitted.SPEC_FILE)
    with pytest.raises(FileNotFoundError, match="no codec.json"):
        tokenizer.load_codec(tmp_path / "codec")


def test_too_little_data_is_a_clear_error():
    with pytest.raises(UserError, match="patches with ink"):
        patch_image.PatchImageCodec.fit(patch_image.PatchImageConfig(), [engraved_systems()[0][:40, :200]])


def _fit(tmp_path, *bindings):
    data = tmp_path / "images.npz"
    if not data.exists():
        codec_windows.save_arrays(data, images=list(engraved_systems()))
    command = [sys.executable, "-m", "mt_music.codecs.fit", "--gin_file=codecs/image_cpu.gin",
               f"--gin.MODEL_DIR='{tmp_path / 'fitted'}'", "--gin.fit.fit.data=@codec_windows.load_images()",
               f"--gin.codec_windows.load_images.path='{data}'",
               "--gin.patch_image.PatchImageConfig.codebook_size=16",
               "--gin.patch_image.PatchImageConfig.shifts_per_image=2",
               "--gin.patch_image.PatchImageConfig.kmeans_iterations=2",
               "--gin.patch_image.PatchImageConfig.refinement_rounds=1", *bindings]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_fit_entry_point_writes_a_loadable_codec_and_will_not_overwrite_it(tmp_path):
    first = _fit(tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    spec = json.loads((tmp_path / "fitted" / "codec.json").read_text())
    assert spec["kind"] == "patch_image" and spec["config"]["codebook_size"] == 16
    assert tokenizer.load_codec(tmp_path / "fitted").codebooks.shape == (4, 16, 256)
    again = _fit(tmp_path)
    assert again.returncode == 2 and again.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "already holds a codec" in again.stderr and "Traceback" not in again.stderr
    assert _fit(tmp_path, "--gin.fit.fit.overwrite=True").returncode == 0
