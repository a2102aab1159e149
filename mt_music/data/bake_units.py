"""The codec token bake as independent shard units, so a Beam runner can spread it over workers.

Shard k of a split holds source examples [k·n, (k+1)·n) (n = `--examples-per-shard`), read as a TFDS
split slice (`train[128:192]`): every unit knows what it bakes without reading the others, and writes the
same shard file (with its codec sidecar) that the sequential bake writes, through the same
`token_bake.write_shard`. A worker loads the codecs once and keeps them for its next units.
"""

from __future__ import annotations

import dataclasses
import pathlib

from mt_music.data import token_bake


@dataclasses.dataclass(frozen=True)
class BakeSettings:
    """What a worker needs to build the same `token_bake.Baker` as the driver."""

    image_codec: str | None
    image_codec_step: int | None
    audio_codec: str | None
    audio_codec_step: int | None
    shifts: bool = True
    image_variants: int | None = None
    audio_variants: int | None = None
    degraded_variants: int = 0


@dataclasses.dataclass(frozen=True)
class ShardUnit:
    settings: BakeSettings
    config: str  # a corpus config or a dataset's name/config
    split: str
    data_dir: str | None
    start: int
    stop: int
    path: str  # the shard file
    codecs: dict  # the codecs' identities (token_bake.codec_identity), written as the sidecar


_bakers: dict[BakeSettings, token_bake.Baker] = {}


def _baker(settings: BakeSettings) -> token_bake.Baker:
    if settings not in _bakers:
        from mt_music.codecs import tokenizer

        image = tokenizer.load_codec(settings.image_codec, settings.image_codec_step) if settings.image_codec else None
        audio = tokenizer.load_codec(settings.audio_codec, settings.audio_codec_step) if settings.audio_codec else None
        _bakers[settings] = token_bake.Baker(image, audio, shifts=settings.shifts, image_variants=settings.image_variants,
                                             audio_variants=settings.audio_variants,
                                             degraded_variants=settings.degraded_variants)
    return _bakers[settings]


def shard_units(settings: BakeSettings, config: str, split: str, total: int, data_dir: str | None,
                out_dir: pathlib.Path, examples_per_shard: int, codecs: dict) -> list[ShardUnit]:
    from mt_music.data import token_records

    return [ShardUnit(settings, config, split, data_dir, start, min(start + examples_per_shard, total),
                      str(out_dir / token_records.FILE_PATTERN.format(index=index)), codecs)
            for index, start in enumerate(range(0, total, examples_per_shard))]


def bake_shard(unit: ShardUnit) -> dict:
    """Bakes one shard unless the same codecs made it already (resume); the counts for the summary."""
    path = pathlib.Path(unit.path)
    count = unit.stop - unit.start
    if token_bake.made_by(path, unit.codecs):
        return {"examples_written": 0, "examples_skipped_existing": count}
    path.parent.mkdir(parents=True, exist_ok=True)
    examples = token_bake.corpus_examples(unit.config, f"{unit.split}[{unit.start}:{unit.stop}]", unit.data_dir)
    token_bake.write_shard(_baker(unit.settings), examples, path, unit.codecs)
    return {"examples_written": count, "examples_skipped_existing": 0}
