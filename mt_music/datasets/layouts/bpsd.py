"""BPSD, the Beethoven Piano Sonata Dataset v2 (Zeitler, Weiß, Arifi-Müller, Müller, TISMIR 2024), as system-level
image ↔ LMX ↔ audio test pairs; test split only.

Source: https://zenodo.org/records/12783403, `Beethoven_Piano_Sonata_Dataset_v2.zip` (CC BY 3.0), which unpacks
to `Beethoven_Piano_Sonata_Dataset_v2/`; the scripts that built it are https://github.com/groupmm/BPSD_scripts.
For the first movements of the 32 sonatas (pieces `Op002No1-01` … `Op111-01`, files `Beethoven_<piece>…`) it ships:

- scores: `0_RawData/score_xml_unfolded/` and `score_xml_repetitions/` (MusicXML of the whole movement, repeats
  written out or not), `score_sibelius_repetitions/`, `score_pdf_repetitions/` (engraved PDFs) and
  `score_pdf_scan/` (PDF scans of a printed edition) — page-level, with no system or measure geometry;
- audio: `1_Audio/Beethoven_<piece>_<performer>.wav` (22.05 kHz mono, already edited to one common structure,
  see `2_Annotations/ann_audio_modifications/`) for the four performances in the public domain in the EU:
  AS35 (Schnabel 1935), FG58 (Gulda 1958), FJ62 (Jank 1962), WK64 (Kempff 1964). The other seven are commercial
  recordings it does not distribute (`0_RawData/audio_ripped/audio_versions_metadata.csv` names their releases);
- annotations for all 11 performances: `2_Annotations/ann_audio_measure/Beethoven_<piece>_<performer>.csv`
  (`time;measure`: the second at which each bar of the unfolded score starts, the last row the end), note events
  (`ann_audio_note/`, `ann_score_note/`), beats, chords, keys, structure, time signatures.

What a system-level pair needs and BPSD does not ship: cropped SYSTEM IMAGES, the MEASURE RANGE each covers and
its LMX. The published system (U-MusT, Jung et al., IEEE TASLP 2026; github.com/MALerLab/U-MusT) hand-annotated
them for 9 pieces (its `dataset_pair_paths/bpsd_test_set.json`, samples `Beethoven_<piece>@<page>_<system>`) and
released only their model tokens, not the crops. So a user puts their own crops (e.g. from `score_pdf_scan/`) in
`<manual_dir>/bpsd_systems/` beside the unzipped dataset:

- `bpsd_systems/systems.csv`, `;`-separated with the header `piece;page;system;measure_start;measure_end`: one row
  per system, measures (inclusive) numbered as in `ann_audio_measure` (bars of the unfolded score);
- `bpsd_systems/Beethoven_<piece>/Beethoven_<piece>@<page:04d>_<system>.png` (or .jpg): the system image;
- the same name with `.lmx` (OLiMPiC LMX) or `.musicxml` (that system only): its notation.

Each row yields one item per performance whose recording is in `1_Audio` (the four public ones; a commercial
recording a user adds must be edited as `ann_audio_modifications` says and named the same way), with the span of
the system's measures in that recording. Ids: `Beethoven_<piece>@<page:04d>_<system>/<performer>`.
"""

from __future__ import annotations

import csv
import pathlib
import re

from mt_music.datasets import items

NAME = "bpsd"
CONFIGS = ("scanned",)
DATASET_FOLDER = "Beethoven_Piano_Sonata_Dataset_v2"
SYSTEMS_FOLDER = "bpsd_systems"
SYSTEMS_FILE = "systems.csv"
SYSTEMS_COLUMNS = ("piece", "page", "system", "measure_start", "measure_end")
AUDIO_DIR = "1_Audio"
MEASURE_DIR = "2_Annotations/ann_audio_measure"
AUDIO_EXTENSIONS = (".wav", ".flac")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
NOTATION_EXTENSIONS = (".lmx", ".musicxml", ".xml")
PERFORMERS = {  # code → (pianist, year recorded); the first four ship as audio
    "AS35": ("Artur Schnabel", 1935), "FG58": ("Friedrich Gulda", 1958), "FJ62": ("Fritz Jank", 1962),
    "WK64": ("Wilhelm Kempff", 1964), "FG67": ("Friedrich Gulda", 1967), "VA81": ("Vladimir Ashkenazy", 1981),
    "DB84": ("Daniel Barenboim", 1984), "JJ90": ("Jenő Jandó", 1990), "AB96": ("Alfred Brendel", 1996),
    "MB97": ("Malcolm Bilson et al.", 1997), "MC22": ("Muriel Chemin", 2022),
}
_PIECE = re.compile(r"(?:Beethoven_)?(?P<piece>Op\d{3}[A-Za-z]?(?:No\d)?-\d\d)")
_TIME_TOLERANCE = 1e-6

EXPECTED_LAYOUT = f"""\
<manual_dir>/
  {DATASET_FOLDER}/        Beethoven_Piano_Sonata_Dataset_v2.zip of https://zenodo.org/records/12783403, unzipped
    {AUDIO_DIR}/Beethoven_<piece>_<performer>.wav          shipped for AS35, FG58, FJ62, WK64 (public domain in the EU)
    {MEASURE_DIR}/Beethoven_<piece>_<performer>.csv   time;measure (shipped)
    0_RawData/score_xml_unfolded/Beethoven_<piece>.xml  0_RawData/score_pdf_scan/Beethoven_<piece>.pdf  … (shipped)
  {SYSTEMS_FOLDER}/          NOT in BPSD: system crops you make (e.g. from score_pdf_scan) and their measure ranges
    {SYSTEMS_FILE}              piece;page;system;measure_start;measure_end   e.g. Op002No3-01;0;0;1;6
    Beethoven_<piece>/Beethoven_<piece>@<page:04d>_<system>.png   the system image (.png or .jpg)
    Beethoven_<piece>/Beethoven_<piece>@<page:04d>_<system>.lmx   its LMX (or .musicxml of that system only)
(<manual_dir> may also be {DATASET_FOLDER}/ itself, with {SYSTEMS_FOLDER}/ inside it; a commercial recording you add
must be edited as 2_Annotations/ann_audio_modifications says and named {AUDIO_DIR}/Beethoven_<piece>_<performer>.wav)"""

CITATION = """\
@article{zeitler2024bpsd,
  title   = {{BPSD}: A Coherent Multi-Version Dataset for Analyzing the First Movements of Beethoven's Piano Sonatas},
  author  = {Zeitler, Johannes and Wei{\\ss}, Christof and Arifi-M{\\"u}ller, Vlora and M{\\"u}ller, Meinard},
  journal = {Transactions of the International Society for Music Information Retrieval},
  volume  = {7},
  number  = {1},
  pages   = {195--212},
  year    = {2024},
  doi     = {10.5334/tismir.196},
}"""


def dataset_dir(root: pathlib.Path) -> pathlib.Path:
    """The unzipped BPSD folder under the manual directory `root` (or `root` itself); LayoutError if neither."""
    for candidate in (root / DATASET_FOLDER, root):
        if (candidate / AUDIO_DIR).is_dir() and (candidate / "2_Annotations").is_dir():
            return candidate
    if (root / DATASET_FOLDER).is_dir():
        return root / DATASET_FOLDER  # incomplete: its first missing folder is reported by the caller
    archives = sorted(p.name for p in root.glob(f"{DATASET_FOLDER}*.zip")) if root.is_dir() else []
    hint = f" ({', '.join(archives)} is there: unzip it)" if archives else ""
    raise items.LayoutError(f"{root}: no BPSD folder {DATASET_FOLDER}/ found{hint}; expected {EXPECTED_LAYOUT}")


def systems_dir(root: pathlib.Path, dataset: pathlib.Path) -> pathlib.Path:
    """The user's system annotations folder; LayoutError saying what BPSD lacks when it is not there."""
    for candidate in (root / SYSTEMS_FOLDER, dataset / SYSTEMS_FOLDER):
        if (candidate / SYSTEMS_FILE).is_file():
            return candidate
    raise items.LayoutError(
        f"{root / SYSTEMS_FOLDER / SYSTEMS_FILE} is missing: BPSD ships page-level scores and whole-movement "
        f"recordings but no system images, no system measure ranges and no per-system LMX; make the crops and "
        f"{SYSTEMS_FILE} yourself. Expected {EXPECTED_LAYOUT}")


def _read_systems(path: pathlib.Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file, delimiter=";")
        header = {name.strip() for name in reader.fieldnames or []}
        lacking = [column for column in SYSTEMS_COLUMNS if column not in header]
        if lacking:
            raise items.LayoutError(f"{path}: no column {', '.join(lacking)} (its header must be "
                                    f"{';'.join(SYSTEMS_COLUMNS)}); expected {EXPECTED_LAYOUT}")
        return [{key.strip(): (value or "").strip() for key, value in row.items() if isinstance(key, str)}
                for row in reader]


def read_measures(path: pathlib.Path) -> list[tuple[float, float]]:
    """(measure, seconds) rows of an `ann_audio_measure` CSV, in file order."""
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file, delimiter=";")
        columns = {name.strip().lower(): name for name in reader.fieldnames or []}
        if "time" not in columns or "measure" not in columns:
            raise ValueError(f"{path}: no time;measure header")
        return [(float(row[columns["measure"]]), float(row[columns["time"]])) for row in reader]


def measure_span(rows: list[tuple[float, float]], first: int, last: int) -> tuple[float, float]:
    """Seconds from the start of bar `first` to the start of the bar after `last` (or the end row)."""
    start = next((time for measure, time in rows if abs(measure - first) < 1e-6), None)
    if start is None:
        raise ValueError(f"bar {first} is not in the measure annotation")
    end = next((time for measure, time in rows if measure > last + 1e-6), None)
    if end is None:
        raise ValueError(f"the measure annotation has no time after bar {last}")
    if end <= start + _TIME_TOLERANCE:
        raise ValueError(f"bars {first}-{last} span no time ({start:.3f}-{end:.3f} s)")
    return start, end


def _first_file(stem: pathlib.Path, extensions: tuple[str, ...]) -> pathlib.Path | None:
    return next((stem.with_name(stem.name + ext) for ext in extensions if stem.with_name(stem.name + ext).is_file()),
                None)


def _recordings(audio_dir: pathlib.Path, piece: str) -> dict[str, pathlib.Path]:
    found: dict[str, pathlib.Path] = {}
    for path in sorted(audio_dir.glob(f"Beethoven_{piece}_*")):
        if path.suffix.lower() in AUDIO_EXTENSIONS and path.is_file():
            found.setdefault(path.stem.removeprefix(f"Beethoven_{piece}_"), path)
    return found


def scan(root: pathlib.Path, config: str) -> tuple[list[items.Item], list[tuple[str, str]]]:
    """One item per listed system and recording with its bar times, and (id, reason) for the others."""
    dataset = dataset_dir(root)
    audio_dir = items.require(dataset / AUDIO_DIR, EXPECTED_LAYOUT)
    measure_dir = items.require(dataset / MEASURE_DIR, EXPECTED_LAYOUT)
    annotations = systems_dir(root, dataset)
    listed: list[items.Item] = []
    missing_systems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for line, row in enumerate(_read_systems(annotations / SYSTEMS_FILE), start=2):
        where = f"{SYSTEMS_FILE} line {line}"
        match = _PIECE.fullmatch(row["piece"])
        try:
            page, system = int(row["page"]), int(row["system"])
            first, last = int(row["measure_start"]), int(row["measure_end"])
        except ValueError:
            missing_systems.append((f"{where}", f"page, system, measure_start, measure_end must be integers: {row}"))
            continue
        if match is None:
            missing_systems.append((where, f"piece {row['piece']!r} is not a BPSD piece name such as Op002No3-01"))
            continue
        piece = match["piece"]
        name = f"Beethoven_{piece}@{page:04d}_{system}"
        if name in seen:
            missing_systems.append((name, f"listed again in {where}; kept its first listing"))
            continue
        seen.add(name)
        if last < first:
            missing_systems.append((name, f"{where}: measure_end {last} is before measure_start {first}"))
            continue
        stem = annotations / f"Beethoven_{piece}" / name
        image, notation = _first_file(stem, IMAGE_EXTENSIONS), _first_file(stem, NOTATION_EXTENSIONS)
        if image is None or notation is None:
            absent = " and ".join(kind for kind, path in (("image (.png/.jpg)", image),
                                                          ("notation (.lmx/.musicxml)", notation)) if path is None)
            missing_systems.append((name, f"listed in {where} but its {absent} is missing: {stem}.*"))
            continue
        recordings = _recordings(audio_dir, piece)
        if not recordings:
            missing_systems.append((name, f"no recording Beethoven_{piece}_<performer>.wav in {audio_dir}"))
            continue
        for performer, audio in recordings.items():
            item_id = f"{name}/{performer}"
            measures = measure_dir / f"Beethoven_{piece}_{performer}.csv"
            if not measures.is_file():
                missing_systems.append((item_id, f"{measures} is missing (no bar times for {audio.name})"))
                continue
            try:
                span = measure_span(read_measures(measures), first, last)
            except (ValueError, KeyError) as error:
                missing_systems.append((item_id, f"{measures.name}: {error}"))
                continue
            pianist, year = PERFORMERS.get(performer, (None, None))
            fields = {"piece": piece, "composer": "Ludwig van Beethoven", "page": page, "system": system,
                      "measure_start": first, "measure_end": last, "performer": performer,
                      "pianist": pianist, "recorded": year}
            lmx = notation if notation.suffix == ".lmx" else None
            listed.append(items.Item(id=item_id, split="test", image=image, lmx=lmx,
                                     musicxml=None if lmx else notation, audio=audio, span=span, fields=fields))
    return listed, missing_systems


LAYOUT = items.Layout(
    name=NAME,
    configs=CONFIGS,
    level="system",
    modalities=("image", "lmx", "audio"),
    description=("BPSD v2 (first movements of Beethoven's 32 piano sonatas) as a test set of score systems paired "
                 "with their LMX and with the bars they cover in each shipped recording (AS35, FG58, FJ62, WK64), "
                 "located by BPSD's measure annotations. BPSD ships no system crops: the images, their measure "
                 "ranges and LMX come from the user (bpsd_systems/)."),
    homepage="https://zenodo.org/records/12783403",
    citation=CITATION,
    expected_layout=EXPECTED_LAYOUT,
    scan=scan,
)
