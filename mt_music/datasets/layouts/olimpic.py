"""OLiMPiC 1.0 (Mayer, Straka, Hajič, Pecina, ICDAR 2024): pianoform system images with their LMX and MusicXML.

Source: the "datasets" release of https://github.com/ufal/olimpic-icdar24
(`olimpic-1.0-synthetic.2024-02-12.tar.gz`, `olimpic-1.0-scanned.2024-02-12.tar.gz`; CC BY-SA 4.0). The layout
below is the one the repository's own code writes and reads: `app/datasets/transfer_samples.py` copies each
system to `samples/<score id>/p<page>-s<system>.{png,lmx,musicxml}` (1-based page and system numbers,
`prepare_corpus_png_systems.py`, `prepare_corpus_lmx_and_musicxml.py`); `build_dataset_index.py` writes
`samples.<split>.txt`, one sample base path per line without extension (`samples/6583477/p1-s1`), from the
PNGs present; `tar-dataset` packs `samples/ samples.*.txt statistics.*.yaml vocabulary.txt`; the Makefile's
`install-olimpic-*` targets show each archive unpacking to one folder, `olimpic-1.0-synthetic/` or
`olimpic-1.0-scanned/`. `zeus/create_pickle.py` reads exactly these files. The synthetic release (MuseScore
engravings of OpenScore Lieder) has train/dev/test; the scanned one (IMSLP scans of the same dev and test
scores, systems cropped by hand) has only dev and test, and its sample folders also hold the LMX and MusicXML
of systems that have no scan (only those with a PNG are listed). The split "dev" is our "validation".

Item ids are the listed base paths (`samples/<score id>/p<page>-s<system>`): unique in a release and stable.
"""

from __future__ import annotations

import pathlib
import re

from mt_music.datasets import items

NAME = "olimpic"
CONFIGS = ("synthetic", "scanned")
RELEASE_DATE = "2024-02-12"
SPLIT_FILES = {  # config → (split file, our split name), in the order the release lists them
    "synthetic": (("samples.train.txt", "train"), ("samples.dev.txt", "validation"), ("samples.test.txt", "test")),
    "scanned": (("samples.dev.txt", "validation"), ("samples.test.txt", "test")),
}
_SAMPLE = re.compile(r"samples/(?P<score>[^/]+)/p(?P<page>\d+)-s(?P<system>\d+)")

EXPECTED_LAYOUT = """\
<manual_dir>/ holding the unpacked OLiMPiC 1.0 releases of https://github.com/ufal/olimpic-icdar24/releases/tag/datasets
  olimpic-1.0-synthetic/            (from olimpic-1.0-synthetic.2024-02-12.tar.gz)
    samples.train.txt  samples.dev.txt  samples.test.txt   one sample per line: samples/<score id>/p<page>-s<system>
    samples/<score id>/p<page>-s<system>.png  .lmx  .musicxml
    statistics.<split>.yaml  vocabulary.txt
  olimpic-1.0-scanned/              (from olimpic-1.0-scanned.2024-02-12.tar.gz; dev and test only)
    samples.dev.txt  samples.test.txt
    samples/<score id>/p<page>-s<system>.png  .lmx  .musicxml
(also accepted: <manual_dir>/olimpic-1.0-<config>.2024-02-12/olimpic-1.0-<config>/, the OLiMPiC repository's
datasets/<config>/ as `make install-olimpic-<config>` leaves it, or the release folder itself as <manual_dir>)"""

CITATION = """\
@inproceedings{mayer2024olimpic,
  title     = {Practical End-to-End Optical Music Recognition for Pianoform Music},
  author    = {Mayer, Ji{\\v{r}}{\\'\\i} and Straka, Milan and Haji{\\v{c}} jr., Jan and Pecina, Pavel},
  booktitle = {Document Analysis and Recognition -- ICDAR 2024},
  publisher = {Springer},
  year      = {2024},
  doi       = {10.1007/978-3-031-70552-6_4},
}"""


def release_dir(root: pathlib.Path, config: str) -> pathlib.Path:
    """The unpacked release folder of `config` under the manual directory `root`; LayoutError if there is none."""
    folder = f"olimpic-1.0-{config}"
    candidates = [root / folder, root / f"{folder}.{RELEASE_DATE}" / folder, root / config]
    if root.name == folder:
        candidates.append(root)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    archives = sorted(p.name for p in root.glob(f"{folder}*.t*gz")) if root.is_dir() else []
    hint = f" ({', '.join(archives)} is there: unpack it)" if archives else ""
    raise items.LayoutError(f"{root}: no OLiMPiC {config} release folder {folder}/ found{hint}; "
                            f"expected {EXPECTED_LAYOUT}")


def scan(root: pathlib.Path, config: str) -> tuple[list[items.Item], list[tuple[str, str]]]:
    """The listed samples whose PNG and LMX exist, and (id, reason) for the others."""
    release = release_dir(root, config)
    listed: list[items.Item] = []
    missing_samples: list[tuple[str, str]] = []
    seen: set[str] = set()
    for split_file, split in SPLIT_FILES[config]:
        index = items.require(release / split_file, EXPECTED_LAYOUT)
        for line in index.read_text(encoding="utf-8").splitlines():
            base = line.strip().strip("/")
            if not base:
                continue
            if base in seen:
                missing_samples.append((base, f"listed again in {split_file}; kept its first listing"))
                continue
            seen.add(base)
            image, lmx, musicxml = (release / f"{base}.{ext}" for ext in ("png", "lmx", "musicxml"))
            absent = [p.name for p in (image, lmx) if not p.is_file()]
            if absent or pathlib.PurePosixPath(base).is_absolute() or ".." in base.split("/"):
                reason = f"{', '.join(absent)} missing" if absent else "not a path inside the release"
                missing_samples.append((base, f"listed in {split_file} but {reason} in {release}"))
                continue
            fields = {"dataset": f"olimpic-1.0-{config}"}
            match = _SAMPLE.fullmatch(base)
            if match:
                fields.update(score_id=match["score"], page=int(match["page"]), system=int(match["system"]))
            listed.append(items.Item(id=base, split=split, image=image, lmx=lmx,
                                     musicxml=musicxml if musicxml.is_file() else None, fields=fields))
    return listed, missing_samples


LAYOUT = items.Layout(
    name=NAME,
    configs=CONFIGS,
    level="system",
    modalities=("image", "lmx"),
    description=("OLiMPiC 1.0: systems of OpenScore Lieder piano accompaniments as images with their LMX "
                 "(linearized MusicXML) and MusicXML. 'synthetic': MuseScore engravings, train/validation/test; "
                 "'scanned': IMSLP scans of the validation and test scores."),
    homepage="https://github.com/ufal/olimpic-icdar24",
    citation=CITATION,
    expected_layout=EXPECTED_LAYOUT,
    scan=scan,
)
