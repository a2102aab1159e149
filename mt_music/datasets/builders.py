"""TensorFlow Datasets builders of the published datasets, read from the folder a user downloaded.

    import mt_music.datasets.builders  # registers olimpic, grandstaff_lmx, bpsd, maestro, musicnet_em, …
    builder = builders.builder("maestro/v3", data_dir="~/tensorflow_datasets")
    builders.prepare(builder, manual_dir="/data/maestro-v3.0.0")
    ds = tfds.load("maestro/v3", split="test", data_dir="~/tensorflow_datasets")

One builder class per `registry` layout, one TFDS config per layout config. The records have the
embedded corpus's features (`mt_music.corpus.tfds_builder.record_features`: system examples for image
datasets, piece records for recordings), so `tools/bake_codec_tokens.py --corpus maestro/v3` and every
task read them like the corpus. The heavy work (decoding, normalising, resampling) happens in
`mt_music.datasets.prepare` with its own process pool and per-item files, so a build that is stopped
resumes; `_generate_examples` only reads those files. `tools/build_dataset.py` is the command line.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pathlib

import numpy as np
import tensorflow_datasets as tfds

from mt_music.corpus import build as corpus_build
from mt_music.corpus import tfds_builder
from mt_music.datasets import prepare, registry
from mt_music.datasets.items import SPLITS, Layout
from mt_music.errors import UserError

VERSION = tfds.core.Version("1.0.0")


@dataclasses.dataclass
class BuildOptions:
    workers: int | None = None  # None = all cores
    retry_failed: bool = False
    progress: bool = True
    runner: str = "local"  # or a Beam runner (mt_music.data.distributed)
    beam_args: tuple[str, ...] = ()


class DatasetBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """The builder of one layout; subclasses (made by `_builder_class`) name the layout."""

    LAYOUT: Layout
    VERSION = VERSION
    RELEASE_NOTES = {"1.0.0": "First release: the corpus's record features over the dataset as published."}

    def __init__(self, *args, build_options: BuildOptions | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.build_options = build_options or BuildOptions()
        self.prepare_result: prepare.PrepareResult | None = None

    def _info(self) -> tfds.core.DatasetInfo:
        layout = self.LAYOUT
        return tfds.core.DatasetInfo(builder=self, description=layout.description,
                                     features=tfds_builder.record_features(layout.level), homepage=layout.homepage,
                                     citation=layout.citation, disable_shuffling=True)

    def _split_generators(self, dl_manager):
        layout, config = self.LAYOUT, self.builder_config.name
        manual_dir = pathlib.Path(dl_manager.manual_dir)
        items = layout.items(manual_dir, config)
        missing = layout.missing(manual_dir, config)
        options = self.build_options
        result = prepare.prepare_all(layout, config, items, self.data_dir_root, workers=options.workers,
                                     retry_failed=options.retry_failed, progress=options.progress, missing=missing,
                                     runner=options.runner, beam_args=tuple(options.beam_args))
        self.prepare_result = result
        split_of = {path: item.split for item, path in _prepared_paths(items, result)}
        present = [split for split in SPLITS if split in split_of.values()]
        if not present:
            raise UserError(f"no {layout.name}/{config} item could be prepared; see {result.directory}/summary.json "
                            f"({len(result.failures)} failed, e.g. {result.failures[0]['id'] if result.failures else '-'}: "
                            f"{result.failures[0]['reason'] if result.failures else '-'})")
        # TFDS refuses empty splits: a dataset may ship only some of them
        return {split: self._generate_examples([p for p, s in split_of.items() if s == split]) for split in present}

    def _generate_examples(self, paths: list[pathlib.Path]):
        for path in paths:
            record = prepare.read_record(path)
            example = system_example(record, self.LAYOUT) if self.LAYOUT.level == "system" else piece_example(record)
            yield record["id"], example


def _prepared_paths(items, result: prepare.PrepareResult):
    prepared = set(result.records)
    for item in items:
        path = result.directory / f"{prepare.item_stem(item.id)}.pkl"
        if path in prepared:
            yield item, path


def _common(record: dict) -> dict:
    fields = record["fields"]
    metadata = {key: value for key, value in fields.items()} | {"image_scale": record.get("image_scale")}
    return {
        "id": record["id"], "piece_id": str(fields.get("piece_id", record["id"])),
        "composer": str(fields.get("composer", "")), "collection": str(fields.get("collection", "")),
        "title": str(fields.get("title", "")), "variant": 0, "lmx": record["lmx"], "notes": record["notes"],
        "audio_flac": record["audio_flac"], "sample_rate": record["sample_rate"],
        "audio_samples": record["audio_samples"], "metadata": json.dumps(metadata, sort_keys=True, default=str),
    }


def system_example(record: dict, layout: Layout) -> dict:
    del layout
    fields = record["fields"]
    span = record["span"] or (0.0, record["duration"])
    return _common(record) | {
        "system_index": int(fields.get("system_index", 0)), "num_systems": int(fields.get("num_systems", 1)),
        "image": io.BytesIO(record["png"]), "lmx_extended": record["lmx"], "staves": int(fields.get("staves", 0)),
        "span": np.asarray(span, np.float64), "measures": np.asarray(fields.get("measures", (0, 0)), np.int32),
    }


def piece_example(record: dict) -> dict:
    return _common(record) | {
        "musicxml": "", "duration": float(record["duration"]),
        "system_spans": np.zeros((0, 2), np.float64), "system_measures": np.zeros((0, 2), np.int32),
    }


def _builder_class(layout: Layout) -> type[DatasetBuilder]:
    class_name = "".join(part.title() for part in layout.name.split("_"))
    return type(class_name, (DatasetBuilder,), {
        "name": layout.name, "LAYOUT": layout, "__module__": __name__, "__doc__": layout.description,
        "BUILDER_CONFIGS": [tfds.core.BuilderConfig(name=config, version=VERSION) for config in layout.configs],
        "MANUAL_DOWNLOAD_INSTRUCTIONS": f"Download {layout.name} ({layout.homepage}) and pass its folder as "
                                        f"manual_dir, laid out as {layout.expected_layout}",
    })


BUILDERS = {name: _builder_class(registry.layout(name)) for name in registry.NAMES}


def builder(spec: str, data_dir: str | os.PathLike | None = None,
            build_options: BuildOptions | None = None) -> DatasetBuilder:
    """The builder of 'name/config' (a bare name: its first config)."""
    layout, config = registry.parse(spec)
    data_dir = str(pathlib.Path(data_dir or corpus_build.default_data_dir()).expanduser())
    return BUILDERS[layout.name](config=config, data_dir=data_dir, build_options=build_options)


def prepare_builder(dataset_builder: DatasetBuilder, manual_dir: str | os.PathLike) -> None:
    """download_and_prepare from `manual_dir`, without TFDS's statistics pass (a second read of everything)."""
    dataset_builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=str(pathlib.Path(manual_dir).expanduser()), compute_stats=tfds.download.ComputeStatsMode.SKIP))


def prepared_builder(spec: str, data_dir: str | os.PathLike | None = None) -> DatasetBuilder:
    """The builder of a dataset that is built in `data_dir`; a UserError that says what to run otherwise."""
    dataset_builder = builder(spec, data_dir)
    if not dataset_builder.is_prepared():
        raise UserError(f"dataset {spec} is not built in {dataset_builder.data_dir_root}; run `python "
                        f"tools/build_dataset.py {spec} --manual-dir <the folder you downloaded> "
                        f"--data-dir {dataset_builder.data_dir_root}`")
    return dataset_builder
