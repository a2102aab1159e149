"""What each dataset has: one row per dataset, from which every task name and source is generated.

A row names the dataset as task names use it (`mt_music_corpus_small` → `mt_music_corpus_small_image2lmx`),
where its baked token records live (`<tokens_dir>/<split>/tokens-*.tfrecord`, written by
`tools/bake_codec_tokens.py`), its splits and the modalities its records hold. The published datasets
(`mt_music.datasets.registry`: OLiMPiC, GrandStaff-LMX, BPSD, MAESTRO, MusicNet-EM, Slakh2100, score
videos) have one row per config, named `<dataset>_<config>` (`maestro_v3_audio2midi`), their tokens under
`<tokens_dir>/<dataset>_<config>` (`bake_codec_tokens.py --corpus maestro/v3 --out data/tokens/maestro_v3`).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

from mt_music.vocabulary import Modality

ALL_MODALITIES = (Modality.IMAGE, Modality.LMX, Modality.MIDI, Modality.AUDIO)
TOKENS_ROOT_ENV = "MT_MUSIC_TOKENS_DIR"  # default: data/tokens under the working directory


def tokens_root() -> pathlib.Path:
    return pathlib.Path(os.environ.get(TOKENS_ROOT_ENV, "data/tokens"))


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    name: str  # the task-name prefix
    tokens_subdir: str  # under tokens_root(), or an absolute path
    modalities: tuple[Modality, ...] = ALL_MODALITIES
    splits: tuple[str, ...] = ("train", "validation", "test")  # the splits its tasks offer
    level: str = "system"  # "system": baked systems; "piece": baked whole pieces (audio↔MIDI windows)
    corpus_config: str | None = None  # the corpus store the bake read (its audio feeds the AMT peers)

    def split_pattern(self, split: str) -> str:
        base = pathlib.Path(self.tokens_subdir)
        base = base if base.is_absolute() else tokens_root() / base
        return str(base / split / "tokens-*.tfrecord")


CORPUS_CONFIGS = ("tiny", "small", "full")
CORPUS = tuple(DatasetSpec(f"mt_music_corpus_{config}", config) for config in CORPUS_CONFIGS)
CORPUS_PIECES = tuple(DatasetSpec(f"mt_music_corpus_{config}_pieces", f"{config}_pieces",
                                  (Modality.MIDI, Modality.AUDIO), level="piece", corpus_config=f"{config}_pieces")
                      for config in CORPUS_CONFIGS)


SPLITS = ("train", "validation", "test")
# The published evaluation-only sets: OLiMPiC's scans come as dev/test only, BPSD is a test set.
EVALUATION_SPLITS = {"olimpic_scanned": ("validation", "test"), "bpsd_scanned": ("test",)}


def published_rows() -> tuple[DatasetSpec, ...]:
    """One row per config of every published dataset; recordings are piece rows (audio↔MIDI windows)."""
    from mt_music.datasets import registry

    rows = []
    for name in registry.NAMES:
        layout = registry.layout(name)
        modalities = tuple(Modality[modality.upper()] for modality in layout.modalities)
        for config in layout.configs:
            row_name = f"{name}_{config}"
            rows.append(DatasetSpec(row_name, row_name, modalities, splits=EVALUATION_SPLITS.get(row_name, SPLITS),
                                    level=layout.level,
                                    corpus_config=f"{name}/{config}" if layout.level == "piece" else None))
    return tuple(rows)


PUBLISHED = published_rows()


def pieces_of(dataset: DatasetSpec) -> DatasetSpec | None:
    """The piece-level row that goes with a system-level dataset (its AMT windows), if there is one."""
    return next((row for row in CORPUS_PIECES if row.name == f"{dataset.name}_pieces"), None)
