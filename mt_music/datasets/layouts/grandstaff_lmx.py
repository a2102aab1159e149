"""GrandStaff-LMX: the GrandStaff piano systems (Ríos-Vila et al., IJDAR 2023) with OLiMPiC's LMX and MusicXML.

Sources. The LMX/MusicXML annotations and splits are the `grandstaff-lmx.2024-02-12.tar.gz` asset of the
"datasets" release of https://github.com/ufal/olimpic-icdar24 (CC BY-SA 4.0, "only the added .lmx and .musicxml
files"; also LINDAT hdl 11234/1-5423). The images are the original GrandStaff archive,
https://grfia.dlsi.ua.es/musicdocs/grandstaff.tgz (no licence stated by its publisher). The repository's
`make install-grandstaff-lmx` unpacks the first to `grandstaff-lmx/` and then the second INTO the same folder,
so each sample `<composer>/<collection>/<piece>/<excerpt>` has, side by side, GrandStaff's `.krn` (and
`.bekrn`), `.jpg` (clean Verovio rendering) and `_distorted.jpg` (the same with camera-like distortions), and
GrandStaff-LMX's `.lmx` and `.musicxml` (`app/datasets/grandstaff/build.py`). GrandStaff-LMX's
`tar-dataset` adds `README.txt` and `samples.train.txt`, `samples.dev.txt`, `samples.test.txt`: one sample
base path per line, without extension (`beethoven/piano-sonatas/sonata01-2/maj2_down_m-0-5`); excerpt names
are `original_m-<first>-<last>` or `<transposition>_<up|down>_m-<first>-<last>` (measures of the piece).
Images unpacked into a separate `grandstaff/` folder (inside `grandstaff-lmx/` or beside it) are found too.
Configs: "clean" reads `<sample>.jpg`, "distorted" `<sample>_distorted.jpg`; "dev" is our "validation".

Item ids are the listed base paths: unique in a config and stable.
"""

from __future__ import annotations

import pathlib
import re

from mt_music.datasets import items

NAME = "grandstaff_lmx"
CONFIGS = ("clean", "distorted")
IMAGE_SUFFIX = {"clean": ".jpg", "distorted": "_distorted.jpg"}
RELEASE_FOLDER = "grandstaff-lmx"
RELEASE_DATE = "2024-02-12"
SPLIT_FILES = (("samples.train.txt", "train"), ("samples.dev.txt", "validation"), ("samples.test.txt", "test"))
_EXCERPT = re.compile(r"(?P<transposition>.+?)_m-(?P<first>\d+)-(?P<last>\d+)")

EXPECTED_LAYOUT = """\
<manual_dir>/grandstaff-lmx/   grandstaff-lmx.2024-02-12.tar.gz of https://github.com/ufal/olimpic-icdar24/releases/tag/datasets,
                               with https://grfia.dlsi.ua.es/musicdocs/grandstaff.tgz unpacked into it (as
                               `make install-grandstaff-lmx` does)
  README.txt
  samples.train.txt  samples.dev.txt  samples.test.txt   one sample per line: <composer>/<collection>/<piece>/<excerpt>
  <composer>/<collection>/<piece>/<excerpt>.lmx  .musicxml     (GrandStaff-LMX)
  <composer>/<collection>/<piece>/<excerpt>.krn  .jpg  _distorted.jpg   (GrandStaff)
(also accepted: <manual_dir>/grandstaff-lmx.2024-02-12/grandstaff-lmx/, the OLiMPiC repository's datasets/grandstaff/,
the release folder itself as <manual_dir>, and the GrandStaff images in a grandstaff/ folder inside or beside it)"""

CITATION = """\
@article{riosvila2023grandstaff,
  title   = {End-to-end optical music recognition for pianoform sheet music},
  author  = {R{\\'\\i}os-Vila, Antonio and Rizo, David and I{\\~n}esta, Jos{\\'e} M. and Calvo-Zaragoza, Jorge},
  journal = {International Journal on Document Analysis and Recognition (IJDAR)},
  volume  = {26},
  year    = {2023},
  doi     = {10.1007/s10032-023-00432-z},
}
@inproceedings{mayer2024olimpic,
  title     = {Practical End-to-End Optical Music Recognition for Pianoform Music},
  author    = {Mayer, Ji{\\v{r}}{\\'\\i} and Straka, Milan and Haji{\\v{c}} jr., Jan and Pecina, Pavel},
  booktitle = {Document Analysis and Recognition -- ICDAR 2024},
  publisher = {Springer},
  year      = {2024},
  doi       = {10.1007/978-3-031-70552-6_4},
}"""


def release_dir(root: pathlib.Path) -> pathlib.Path:
    """The GrandStaff-LMX folder under the manual directory `root`; LayoutError if there is none."""
    candidates = [root / RELEASE_FOLDER, root / f"{RELEASE_FOLDER}.{RELEASE_DATE}" / RELEASE_FOLDER]
    if (root / "grandstaff" / SPLIT_FILES[0][0]).is_file():  # the OLiMPiC repository's datasets/grandstaff
        candidates.append(root / "grandstaff")
    if root.name in (RELEASE_FOLDER, "grandstaff"):
        candidates.append(root)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    archives = sorted(p.name for p in root.glob(f"{RELEASE_FOLDER}*.t*gz")) if root.is_dir() else []
    hint = f" ({', '.join(archives)} is there: unpack it)" if archives else ""
    raise items.LayoutError(f"{root}: no GrandStaff-LMX folder {RELEASE_FOLDER}/ found{hint}; "
                            f"expected {EXPECTED_LAYOUT}")


def _image_roots(root: pathlib.Path, release: pathlib.Path) -> list[pathlib.Path]:
    roots = [release, release / "grandstaff", root / "grandstaff"]
    return [r for i, r in enumerate(roots) if r not in roots[:i]]


def _fields(base: str) -> dict:
    parts = base.split("/")
    fields: dict = {"excerpt": parts[-1]}
    if len(parts) == 4:
        fields.update(composer=parts[0], collection=parts[1], piece=parts[2])
    match = _EXCERPT.fullmatch(parts[-1])
    if match:
        fields.update(transposition=match["transposition"], original=match["transposition"] == "original",
                      measure_first=int(match["first"]), measure_last=int(match["last"]))
    return fields


def scan(root: pathlib.Path, config: str) -> tuple[list[items.Item], list[tuple[str, str]]]:
    """The listed samples whose image (of the config) and LMX exist, and (id, reason) for the others."""
    release = release_dir(root)
    image_roots = _image_roots(root, release)
    listed: list[items.Item] = []
    missing_samples: list[tuple[str, str]] = []
    seen: set[str] = set()
    for split_file, split in SPLIT_FILES:
        index = items.require(release / split_file, EXPECTED_LAYOUT)
        for line in index.read_text(encoding="utf-8").splitlines():
            base = line.strip().strip("/")
            if not base:
                continue
            if base in seen:
                missing_samples.append((base, f"listed again in {split_file}; kept its first listing"))
                continue
            seen.add(base)
            if pathlib.PurePosixPath(base).is_absolute() or ".." in base.split("/"):
                missing_samples.append((base, f"listed in {split_file} but not a path inside {release}"))
                continue
            lmx, musicxml = release / f"{base}.lmx", release / f"{base}.musicxml"
            image = next((r / f"{base}{IMAGE_SUFFIX[config]}" for r in image_roots
                          if (r / f"{base}{IMAGE_SUFFIX[config]}").is_file()), None)
            absent = ([] if lmx.is_file() else [lmx.name]) + ([] if image else [f"{base}{IMAGE_SUFFIX[config]}"])
            if absent:
                where = release if image else " or ".join(str(r) for r in image_roots)
                missing_samples.append((base, f"listed in {split_file} but {', '.join(absent)} missing in {where}"))
                continue
            listed.append(items.Item(id=base, split=split, image=image, lmx=lmx,
                                     musicxml=musicxml if musicxml.is_file() else None, fields=_fields(base)))
    return listed, missing_samples


LAYOUT = items.Layout(
    name=NAME,
    configs=CONFIGS,
    level="system",
    modalities=("image", "lmx"),
    description=("GrandStaff-LMX: GrandStaff's two-staff piano systems (Beethoven, Chopin, Hummel, Joplin, Mozart, "
                 "Scarlatti excerpts and their transpositions, rendered by Verovio) with OLiMPiC's LMX and "
                 "MusicXML annotations and train/validation/test splits. 'clean': the plain renderings; "
                 "'distorted': the camera-like distorted ones."),
    homepage="https://github.com/ufal/olimpic-icdar24",
    citation=CITATION,
    expected_layout=EXPECTED_LAYOUT,
    scan=scan,
)
