"""TensorFlow Datasets builder of the embedded corpus (the only TensorFlow module of `corpus`).

    import mt_music.corpus.tfds_builder  # registers "mt_music_corpus"
    ds = tfds.load("mt_music_corpus/small", split="train", data_dir=...)

Configs (each also as `<name>_pieces`, the piece-level records of the same build):
    small  (default) the quickstart build: 40 pieces over chorales, madrigals, Palestrina, trecento
           and folk collections, one rendering each, pieces up to 4 minutes
    tiny   four short pieces, every split represented (tests, smoke runs)
    full   every piece of music21's corpus, two renderings each (variant 0 canonical, variant 1
           fully augmented), no length limit
Custom selections (`tools/build_corpus.py --pieces N --composers ... --seed S`) get a config
made on the fly (`make_config`).

Rendering happens in `mt_music.corpus.build` with its own worker pool (parallel, resumable,
bounded memory) into shard files under `<data_dir>/mt_music_corpus_shards/`; `_generate_examples`
only reads those shards, so TFDS's single-process writer is not the bottleneck.

System example features: image (PNG, 1 channel), lmx / lmx_extended (text), notes (sequence of
start/end/pitch/velocity/program/is_drum, seconds from the system start), audio_flac (FLAC bytes,
44.1 kHz mono; `decode_audio`), span (start, end seconds in the piece), measures (first, stop),
metadata (JSON: augmentation, tempo, soundfont, font, token lengths, staff heights, ...).
Piece records: the MusicXML with the system breaks, whole-piece LMX, notes and audio, all
system spans.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from mt_music.corpus import build
from mt_music.errors import UserError

VERSION = tfds.core.Version("1.0.0")
SPLITS = ("train", "validation", "test")
SPECS = build.NAMED_SPECS


@dataclasses.dataclass(eq=False)
class CorpusConfig(tfds.core.BuilderConfig):
    """A build (`spec`) seen at one level: "system" examples or "piece" records."""

    spec: build.CorpusSpec = dataclasses.field(default_factory=build.CorpusSpec)
    level: str = "system"


def make_config(spec: build.CorpusSpec, level: str = "system", description: str = "") -> CorpusConfig:
    if level not in ("system", "piece"):
        raise ValueError(f"level must be 'system' or 'piece', got {level!r}")
    name = spec.name if level == "system" else f"{spec.name}_pieces"
    return CorpusConfig(name=name, version=VERSION, description=description or name, spec=spec, level=level)


@dataclasses.dataclass
class BuildOptions:
    """How to render (not what): workers, retrying failures, progress output."""

    workers: int | None = None  # None = all cores
    retry_failed: bool = False
    progress: bool = True
    runner: str = "local"  # or an Apache Beam runner (mt_music.data.distributed)
    beam_args: tuple[str, ...] = ()


def _notes_feature() -> tfds.features.Sequence:
    return tfds.features.Sequence({
        "start": np.float32, "end": np.float32, "pitch": np.int32, "velocity": np.int32,
        "program": np.int32, "is_drum": np.bool_,
    })


def record_features(level: str) -> tfds.features.FeaturesDict:
    """The features of system examples or piece records: the corpus's, and every real dataset's
    (`mt_music.datasets.builders`), so the bake and the tasks read any of them the same way."""
    common = {
        "id": tfds.features.Text(),
        "piece_id": tfds.features.Text(),
        "composer": tfds.features.Text(),
        "collection": tfds.features.Text(),
        "title": tfds.features.Text(),
        "variant": np.int32,
        "lmx": tfds.features.Text(),
        "notes": _notes_feature(),
        "audio_flac": tfds.features.Tensor(shape=(), dtype=np.object_),
        "sample_rate": np.int32,
        "audio_samples": np.int64,
        "metadata": tfds.features.Text(),
    }
    if level == "system":
        return tfds.features.FeaturesDict(common | {
            "system_index": np.int32,
            "num_systems": np.int32,
            "image": tfds.features.Image(shape=(None, None, 1), encoding_format="png"),
            "lmx_extended": tfds.features.Text(),
            "staves": np.int32,
            "span": tfds.features.Tensor(shape=(2,), dtype=np.float64),
            "measures": tfds.features.Tensor(shape=(2,), dtype=np.int32),
        })
    return tfds.features.FeaturesDict(common | {
        "musicxml": tfds.features.Text(),
        "duration": np.float64,
        "system_spans": tfds.features.Tensor(shape=(None, 2), dtype=np.float64),
        "system_measures": tfds.features.Tensor(shape=(None, 2), dtype=np.int32),
    })


class MtMusicCorpus(tfds.core.GeneratorBasedBuilder):
    """music21's corpus, pianoform: one engraved, linearized, performed and synthesized system per example."""

    VERSION = VERSION
    RELEASE_NOTES = {"1.0.0": "First release: systems with image, LMX, notes, audio; piece records."}
    BUILDER_CONFIGS = [make_config(SPECS[name], level) for name in ("small", "tiny", "full")
                       for level in ("system", "piece")]
    DEFAULT_CONFIG_NAME = "small"

    def __init__(self, *args, build_options: BuildOptions | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.build_options = build_options or BuildOptions()
        self.build_result: build.BuildResult | None = None

    def _info(self) -> tfds.core.DatasetInfo:
        features = record_features(self.builder_config.level)
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__.split("\n\n")[0],
            features=features,
            homepage="https://github.com/cuthbertLab/music21 (source scores)",
            citation="music21 corpus (BSD/CC licences per work); rendered by mt_music.",
            disable_shuffling=True,  # examples in piece order; the writer holds no shuffle buffer
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        options = self.build_options
        result = build.build(self.builder_config.spec, self.data_dir_root, workers=options.workers,
                             retry_failed=options.retry_failed, progress=options.progress, runner=options.runner,
                             beam_args=options.beam_args)
        self.build_result = result
        present = {build.read_shard_meta(shard)["split"] for shard in result.shards}
        if not present:
            raise RuntimeError(f"no piece of build {self.builder_config.spec.name!r} could be rendered; "
                               f"see {result.shard_dir}/summary-{self.builder_config.spec.name}.json")
        # TFDS refuses empty splits: a small selection may have no validation or test piece
        return {split: self._generate_examples(result.shards, split) for split in SPLITS if split in present}

    def _generate_examples(self, shards: list[pathlib.Path], split: str):
        for shard in shards:
            meta = build.read_shard_meta(shard)
            if meta["split"] != split:
                continue
            record, systems = build.read_shard(shard)
            if self.builder_config.level == "piece":
                yield record["id"], piece_example(record)
            else:
                for system in systems:
                    yield system["id"], system_example(system)


_METADATA_SKIP = {"id", "piece_id", "composer", "collection", "title", "variant", "lmx", "lmx_extended",
                  "notes", "sample_rate", "audio_samples", "system_index", "num_systems", "staves",
                  "span_start", "span_end", "measure_start", "measure_stop", "system_spans",
                  "system_measures", "duration"}


def _metadata(entry: dict) -> str:
    return json.dumps({k: v for k, v in entry.items() if not k.startswith("_") and k not in _METADATA_SKIP},
                      sort_keys=True)


def _notes(columns: dict) -> dict:
    return {
        "start": np.asarray(columns["start"], np.float32), "end": np.asarray(columns["end"], np.float32),
        "pitch": np.asarray(columns["pitch"], np.int32), "velocity": np.asarray(columns["velocity"], np.int32),
        "program": np.asarray(columns["program"], np.int32), "is_drum": np.asarray(columns["is_drum"], np.bool_),
    }


def system_example(system: dict) -> dict:
    import io

    return {
        "id": system["id"], "piece_id": system["piece_id"], "composer": system["composer"],
        "collection": system["collection"], "title": system["title"], "variant": system["variant"],
        "system_index": system["system_index"], "num_systems": system["num_systems"],
        "image": io.BytesIO(system["_png"]),
        "lmx": system["lmx"], "lmx_extended": system["lmx_extended"], "staves": system["staves"],
        "notes": _notes(system["notes"]),
        "audio_flac": system["_flac"], "sample_rate": system["sample_rate"], "audio_samples": system["audio_samples"],
        "span": np.asarray([system["span_start"], system["span_end"]], np.float64),
        "measures": np.asarray([system["measure_start"], system["measure_stop"]], np.int32),
        "metadata": _metadata(system),
    }


def piece_example(record: dict) -> dict:
    return {
        "id": record["id"], "piece_id": record["piece_id"], "composer": record["composer"],
        "collection": record["collection"], "title": record["title"], "variant": record["variant"],
        "lmx": record["lmx"], "notes": _notes(record["notes"]),
        "audio_flac": record["_flac"], "sample_rate": record["sample_rate"], "audio_samples": record["audio_samples"],
        "musicxml": record["_musicxml"].decode("utf-8"), "duration": record["duration"],
        "system_spans": np.asarray(record["system_spans"], np.float64).reshape(-1, 2),
        "system_measures": np.asarray(record["system_measures"], np.int32).reshape(-1, 2),
        "metadata": _metadata(record),
    }


# ---------------------------------------------------------------------------------------------------
# Reading helpers
# ---------------------------------------------------------------------------------------------------


def decode_audio(flac: bytes | np.bytes_) -> np.ndarray:
    """Mono float32 waveform at 44.1 kHz of an example's `audio_flac`."""
    from mt_music.audio.io import decode_flac

    waveform, _ = decode_flac(bytes(flac))
    return waveform


def tf_decode_audio(flac: tf.Tensor) -> tf.Tensor:
    """`decode_audio` inside a tf.data pipeline (float32 [samples])."""
    waveform = tf.numpy_function(lambda data: decode_audio(data).astype(np.float32), [flac], tf.float32)
    waveform.set_shape([None])
    return waveform


def notes_of(example: dict) -> list:
    """`mt_music.midi.Note`s of a (numpy) example's `notes`."""
    from mt_music.midi import Note

    notes = example["notes"]
    return [Note(float(s), float(e), int(p), int(v), int(g), bool(d)) for s, e, p, v, g, d in zip(
        notes["start"], notes["end"], notes["pitch"], notes["velocity"], notes["program"], notes["is_drum"])]


def builder(config: str | CorpusConfig = "small", data_dir: str | os.PathLike | None = None,
            build_options: BuildOptions | None = None) -> MtMusicCorpus:
    """The builder for a config name or object; data_dir defaults to `build.default_data_dir()`."""
    data_dir = str(data_dir or build.default_data_dir())
    return MtMusicCorpus(config=config, data_dir=data_dir, build_options=build_options)


def prepare(corpus_builder: MtMusicCorpus) -> None:
    """download_and_prepare without TFDS's statistics pass (it would read the whole dataset again)."""
    corpus_builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        compute_stats=tfds.download.ComputeStatsMode.SKIP))


def incomplete_writes(data_dir: str | os.PathLike | None = None) -> list[pathlib.Path]:
    """Folders left by a TFDS write that was killed (TFDS removes its `incomplete.*` folder only on a normal end)."""
    root = pathlib.Path(data_dir or build.default_data_dir()) / MtMusicCorpus.name
    return sorted(root.glob(f"*/{tfds.core.constants.INCOMPLETE_PREFIX}*"))


def prepared_builder(config: str, data_dir: str | os.PathLike | None = None) -> MtMusicCorpus:
    """The builder of a config that is built in `data_dir`; a UserError that says what to run otherwise."""
    data_dir = data_dir or build.default_data_dir()
    try:
        corpus_builder = builder(config, data_dir)
    except ValueError as error:  # an unknown config name
        raise UserError(f"no corpus config {config!r} (known: {', '.join(sorted(SPECS))}, or a custom build's "
                        f"config): {str(error).splitlines()[0]}") from None
    if not corpus_builder.is_prepared():
        leftovers = [str(p) for p in incomplete_writes(data_dir)]
        aborted = (f"; {', '.join(leftovers)} is left from an aborted write (delete it, or re-run the build, "
                   "which removes it)") if leftovers else ""
        raise UserError(f"corpus config {config!r} is not built in {data_dir}{aborted}; run "
                        f"`python tools/build_corpus.py --config {config} --data-dir {data_dir}`")
    return corpus_builder
