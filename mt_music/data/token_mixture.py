"""The curriculum mixture over a split of baked token records, for gin: the TensorFlow path.

    train.train.data_source = @token_mixture.from_token_records()
    token_mixture.from_token_records.pattern = 'data/tokens/small/train/tokens-*.tfrecord'
    token_mixture.from_token_records.recipe = 'all_directions'

Reads every record once (TFRecords need TensorFlow; hosts without it read a materialized store —
next step of the tasks issue) and hands them to the TF-free `TranslationMixture`.
"""

from __future__ import annotations

import glob

from mt_music.data import curriculum, token_records
from mt_music.data.directions import LengthLimits
from mt_music.data.translation_mixture import TranslationMixture
from mt_music.errors import UserError


def from_token_records(*, pattern: str, recipe: str = "all_directions", encoder_length: int,
                       decoder_length: int, limits: LengthLimits = LengthLimits(), seed: int = 0,
                       step_scale: float = 1.0, lmx_flavor: str = "core") -> TranslationMixture:
    if recipe not in curriculum.RECIPES:
        raise UserError(f"token_mixture.from_token_records.recipe: unknown recipe {recipe!r}; "
                        f"known: {', '.join(curriculum.RECIPES)}")
    if not glob.glob(pattern):
        raise UserError(f"token_mixture.from_token_records.pattern: no token records match {pattern}; bake them "
                        "with tools/bake_codec_tokens.py (or `make codecs` for the small corpus)")
    records = list(token_records.read(pattern))
    return TranslationMixture(records, curriculum.RECIPES[recipe], encoder_length=encoder_length,
                              decoder_length=decoder_length, limits=limits, seed=seed, step_scale=step_scale,
                              lmx_flavor=lmx_flavor)
