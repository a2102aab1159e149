"""Input-image degradations act on pixels as scanned pages do, and the bake keeps them for inputs only."""

from __future__ import annotations

import pathlib

import numpy as np
from codec_testing import engraved_systems

from mt_music.codecs import tokenizer
from mt_music.data import system_frames, token_bake
from mt_music.image import degradations
from mt_music.image.degradations import Degradation

ASSETS = pathlib.Path(__file__).parents[1] / "assets" / "codecs"


def _system() -> np.ndarray:
    return np.round(engraved_systems()[0]).astype(np.uint8)


def _ink(image: np.ndarray) -> int:
    return int((image < 128).sum())


def test_each_degradation_does_what_a_scanner_does():
    image, rng = _system(), np.random.default_rng(0)
    assert degradations.apply(image, Degradation(), rng).tobytes() == image.tobytes()  # the identity draw
    thicker = degradations.apply(image, Degradation(morphology=1), rng)
    thinner = degradations.apply(image, Degradation(morphology=-1), rng)
    assert _ink(thinner) < _ink(image) < _ink(thicker)
    rotated = degradations.apply(image, Degradation(degrees=1.0), rng)
    assert rotated.shape == image.shape and rotated[0, 0] == 255  # corners filled white
    darkness = lambda picture: float((255.0 - picture).sum())  # noqa: E731  bilinear rotation keeps it
    assert abs(darkness(rotated) - darkness(image)) < 0.05 * darkness(image) and not np.array_equal(rotated, image)
    faded = degradations.apply(image, Degradation(contrast=0.5, brightness=20), rng)
    assert faded.min() >= 255 - 0.5 * 255 - 20 - 1 and faded.max() == 235
    noisy = degradations.apply(image, Degradation(noise_std=10), rng)
    assert 5 < float(np.std(noisy.astype(float) - image)) < 12


def test_draws_stay_in_the_published_ranges():
    draws = [degradations.sample(np.random.default_rng(i)) for i in range(300)]
    assert all(abs(d.degrees) <= 1.0 and d.morphology in (-1, 0, 1) and 0.6 <= d.contrast <= 1.0 for d in draws)
    assert {d.morphology for d in draws} == {-1, 0, 1}


def test_the_bake_encodes_degraded_copies_reproducibly_and_tasks_keep_them_as_inputs():
    codec = tokenizer.load_codec(ASSETS / "image_cpu")
    baker = token_bake.Baker(codec, None, image_variants=2, degraded_variants=2)
    image = _system()
    codes, grids, shifts, degraded = baker.image_codes(image, "piece/0/1")
    assert codes.shape[0] == len(grids) == len(shifts) == 4 and degraded.tolist() == [0, 0, 1, 1]
    again = baker.image_codes(image, "piece/0/1")[0]
    other = baker.image_codes(image, "piece/0/2")[0]
    np.testing.assert_array_equal(codes, again)  # drawn from the id
    assert not np.array_equal(codes[2:], other[2:]) and np.array_equal(codes[:2], other[:2])
    clean_grid = codes[0, : grids[0][0], : grids[0][1]]
    degraded_grid = codes[2, : grids[2][0], : grids[2][1]]
    if clean_grid.shape == degraded_grid.shape:
        assert (clean_grid != degraded_grid).any()
    record = {"image_grids": grids, "image_degraded": degraded}
    assert system_frames.image_variant_choices(record, output=True).tolist() == [0, 1]
    assert system_frames.image_variant_choices(record, output=False).tolist() == [0, 1, 2, 3]
    older = {"image_grids": grids}  # bakes before degradations: every variant is clean
    assert system_frames.image_variant_choices(older, output=True).tolist() == [0, 1, 2, 3]
