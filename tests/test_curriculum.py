"""Curriculum ramps: task frequencies over many draws follow the linear ramps at every step."""

from __future__ import annotations

import numpy as np
import pytest

from mt_music.data import curriculum, directions
from mt_music.errors import UserError

RAMPS = curriculum.RECIPES["image_to_audio"]


@pytest.mark.parametrize("step", [0, 15_000, 32_500, 50_000, 60_000, 100_000])
def test_frequencies_match_the_ramps_within_sampling_error(step):
    draws = 10_000
    counts = np.bincount([curriculum.draw(RAMPS, 0, step, i) for i in range(draws)], minlength=3)
    expected = curriculum.weights(RAMPS, step)
    tolerance = 4 * np.sqrt(expected * (1 - expected) / draws) + 1e-9
    assert np.all(np.abs(counts / draws - expected) <= tolerance), (counts / draws, expected)


def test_ramp_shape_and_step_scale():
    omr, synthesis, image_audio = RAMPS
    assert synthesis.weight(15_000) == 0 and synthesis.weight(32_500) == pytest.approx(0.5)
    assert synthesis.weight(50_000) == 1 and synthesis.weight(10**6) == 1 and omr.weight(0) == 1
    assert curriculum.weights(RAMPS, 60_000).tolist() == pytest.approx([0.4, 0.4, 0.2])
    assert curriculum.weights(RAMPS, 60, step_scale=0.001).tolist() == pytest.approx([0.4, 0.4, 0.2])


def test_draws_depend_only_on_seed_step_and_index():
    assert [curriculum.draw(RAMPS, 3, 60_000, i) for i in range(50)] == \
        [curriculum.draw(RAMPS, 3, 60_000, i) for i in range(50)]
    assert [curriculum.draw(RAMPS, 3, 60_000, i) for i in range(50)] != \
        [curriculum.draw(RAMPS, 4, 60_000, i) for i in range(50)]


def test_recipes_name_real_directions_and_start_somewhere():
    names = {d.name for d in directions.ALL}
    for recipe in curriculum.RECIPES.values():
        curriculum.check_ramps(recipe)
        assert {ramp.task for ramp in recipe} <= names
    assert len(curriculum.RECIPES["all_directions"]) == 12


def test_bad_curricula_are_refused():
    with pytest.raises(UserError, match="start_step ≤ full_step"):
        curriculum.Ramp("image2lmx", 10, 5)
    with pytest.raises(UserError, match="let one task start at step 0"):
        curriculum.check_ramps([curriculum.Ramp("image2lmx", 5, 10)])
    with pytest.raises(UserError, match="appears twice"):
        curriculum.check_ramps([curriculum.Ramp("image2lmx"), curriculum.Ramp("image2lmx")])
