"""The curriculum mixture over a split of baked token records, for gin.

    train.train.data_source = @token_mixture.from_token_records()
    token_mixture.from_token_records.pattern = 'data/tokens/small/train/tokens-*.tfrecord'
    token_mixture.from_token_records.recipe = 'all_directions'
    token_mixture.from_token_records.pieces_pattern = 'data/tokens/small_pieces/train/tokens-*.tfrecord'

`pieces_pattern` (optional) names baked piece records: audio→MIDI and MIDI→audio then train on
random `window_seconds` windows of whole performances (the published AMT setting) instead of systems.

Reads every record once and hands them to the TF-free `TranslationMixture`. A pattern of
`.tfrecord` files is read with TensorFlow (imported only then); `.npz` shards of the NumPy store
(`tools/materialize_tokens.py`) need none, so accelerator hosts without TensorFlow train from those.
"""

from __future__ import annotations

import glob

from mt_music.data import curriculum, record_store
from mt_music.data.directions import LengthLimits
from mt_music.data.translation_mixture import TranslationMixture
from mt_music.errors import UserError
from mt_music.vocabulary import UnifiedVocabulary


def from_token_records(*, pattern: str, recipe: str = "all_directions", encoder_length: int,
                       decoder_length: int, limits: LengthLimits = LengthLimits(), seed: int = 0,
                       step_scale: float = 1.0, lmx_flavor: str = "core", crop: bool = False,
                       vocabulary: UnifiedVocabulary | None = None, pieces_pattern: str | None = None,
                       window_seconds: float = 10.0) -> TranslationMixture:
    if recipe not in curriculum.RECIPES:
        raise UserError(f"token_mixture.from_token_records.recipe: unknown recipe {recipe!r}; "
                        f"known: {', '.join(curriculum.RECIPES)}")
    if not glob.glob(pattern):
        raise UserError(f"token_mixture.from_token_records.pattern: no token records match {pattern}; bake them "
                        "with tools/bake_codec_tokens.py (or `make tokens` for the small corpus)")
    if pieces_pattern and not glob.glob(pieces_pattern):
        raise UserError(f"token_mixture.from_token_records.pieces_pattern: no piece records match {pieces_pattern}; "
                        "bake a corpus *_pieces config with tools/bake_codec_tokens.py (or `make tokens`)")
    return TranslationMixture(read_records(pattern), curriculum.RECIPES[recipe], encoder_length=encoder_length,
                              decoder_length=decoder_length, limits=limits, seed=seed, step_scale=step_scale,
                              lmx_flavor=lmx_flavor, crop=crop, vocabulary=vocabulary,
                              pieces=read_records(pieces_pattern) if pieces_pattern else None,
                              window_seconds=window_seconds)


def read_records(pattern: str) -> list[dict]:
    """Every record of the files matching `pattern`: NumPy shards without TensorFlow, TFRecords with it."""
    if pattern.endswith(".npz"):
        return list(record_store.read(pattern))
    from mt_music.data import token_records  # TensorFlow

    return list(token_records.read(pattern))
