"""MusicNet recordings with the MusicNet-EM labels (Maman & Bermano 2022) instead of MusicNet's own.

Layout sources:
- MusicNet (Thickstun et al. 2017), https://zenodo.org/record/5120004 (also
  https://www.kaggle.com/datasets/imsparsh/musicnet-dataset): `musicnet.tar.gz` unpacks to `musicnet/`
  with `train_data/<id>.wav` + `train_labels/<id>.csv` (320 recordings) and `test_data/` + `test_labels/`
  (10), 44.1 kHz WAV; `musicnet_metadata.csv` (a separate download) has the columns id, composer,
  composition, movement, ensemble, source, transcriber, catalog_name, seconds (330 rows). Kaggle nests
  the folder once more (`musicnet/musicnet/train_data`) and puts the metadata beside the outer one.
- MusicNet-EM, https://benadar293.github.io (repo benadar293/benadar293.github.io, file
  `musicnet_em.zip`): `musicnet_em/<id>.mid` for 323 of the 330 recordings (none for 2194, 2211, 2227,
  2230, 2292, 2305, 2310), plus README.txt and LICENSE.txt. Each label is a type-1 MIDI file, one track
  per instrument with its General MIDI program (0 piano, 6 harpsichord, 40 violin, 41 viola, 42 cello,
  45 pizzicato strings — used for a second violin —, 60 horn, 68 oboe, 70 bassoon, 71 clarinet,
  73 flute), every velocity 127 and no control changes: there is no pedal, so `apply_sustain` is off.
  Programs are kept as the files say.

Splits: MT3's (magenta/mt3 mt3/colab/mt3_reconvat_baseline.ipynb, TRACKS_BY_SPLIT; the same ids are in
mimbres/YourMT3's MusicNet preprocessing as validation_mt3 / test_mt3_acoustic): 15 validation and 15 test
recordings, the rest train — whatever folder (train_data / test_data) a recording is in. MusicNet's own
10-recording test folder (1759, 1819, 2106, 2191, 2298, 2303, 2382, 2416, 2556, 2628; Thickstun et al.
2018's "extended" test set) is not MT3's test split; those recordings are "train" here.

Both downloads go into one manual directory side by side (`EXPECTED_LAYOUT`). An item is a metadata row
(id = the recording id, e.g. "1727") whose recording and EM label exist; fields: composer, composition,
ensemble. Not used: MusicNet's csv labels (train_labels/, test_labels/), its unaligned score MIDI
(musicnet_midis.tar.gz) and the metadata columns movement, source, transcriber, catalog_name, seconds.
"""

from __future__ import annotations

import csv
import pathlib

from mt_music.datasets import items

NAME = "musicnet_em"
CONFIGS = ("mt3",)
MUSICNET = "musicnet"
METADATA = "musicnet_metadata.csv"
EM_LABELS = "musicnet_em"
RECORDING_FOLDERS = ("train_data", "test_data")
METADATA_COLUMNS = ("id", "composer", "composition", "ensemble")

# magenta/mt3 mt3/colab/mt3_reconvat_baseline.ipynb, TRACKS_BY_SPLIT
VALIDATION_IDS = frozenset({"1733", "1765", "1790", "1818", "2160", "2198", "2289", "2300", "2308", "2315", "2336",
                            "2466", "2477", "2504", "2611"})
TEST_IDS = frozenset({"1729", "1776", "1813", "1893", "2118", "2186", "2296", "2431", "2432", "2487", "2497", "2501",
                      "2507", "2537", "2621"})

EXPECTED_LAYOUT = f"""\
<manual_dir>/
    {MUSICNET}/                      (musicnet.tar.gz unpacked; Kaggle's musicnet/musicnet/ is found too)
        train_data/<id>.wav
        test_data/<id>.wav
        train_labels/ test_labels/    (MusicNet's own csv labels: not read)
    {METADATA}          (or inside {MUSICNET}/)
    {EM_LABELS}/                   (musicnet_em.zip from https://benadar293.github.io unpacked)
        <id>.mid"""


def _find(candidates: list[pathlib.Path], what: str) -> pathlib.Path:
    for candidate in candidates:
        if candidate.exists():
            return candidate
    others = f" (nor {', '.join(str(path) for path in candidates[1:])})" if len(candidates) > 1 else ""
    raise items.LayoutError(f"{candidates[0]} is missing{others}: {what}; expected {EXPECTED_LAYOUT}")


def locate(manual_dir: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
    """(the MusicNet folder holding train_data/ and test_data/, the metadata CSV, the EM label folder)."""
    outer = manual_dir / MUSICNET
    music = _find([outer / folder for folder in RECORDING_FOLDERS] + [outer / MUSICNET / "train_data"],
                  "the MusicNet recordings").parent
    for folder in RECORDING_FOLDERS:
        items.require(music / folder, EXPECTED_LAYOUT)
    metadata = _find([manual_dir / METADATA, music / METADATA, outer / METADATA], "MusicNet's metadata")
    labels = _find([manual_dir / EM_LABELS], "the MusicNet-EM labels")
    if not any(labels.glob("*.mid")) and (labels / EM_LABELS).is_dir():  # the zip unpacked into its own folder
        labels = labels / EM_LABELS
    return music, metadata, labels


def split_of(recording_id: str) -> str:
    """MT3's split of a MusicNet recording."""
    if recording_id in TEST_IDS:
        return "test"
    if recording_id in VALIDATION_IDS:
        return "validation"
    return "train"


def read_metadata(path: pathlib.Path) -> list[dict]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise items.LayoutError(f"{path}: unreadable MusicNet metadata ({error}); expected {EXPECTED_LAYOUT}") from error
    absent = [column for column in METADATA_COLUMNS if column not in header]
    if absent:
        raise items.LayoutError(f"{path}: no column {', '.join(absent)} (has {', '.join(header) or 'none'}); "
                                f"expected MusicNet's {METADATA} in {EXPECTED_LAYOUT}")
    return rows


def scan(root: pathlib.Path, config: str) -> tuple[list[items.Item], list[tuple[str, str]]]:
    """Every metadata row with a recording and an EM label as an Item, and (id, reason) for the others."""
    music, metadata, labels = locate(root)
    found: dict[str, items.Item] = {}
    left_out: list[tuple[str, str]] = []
    for number, row in enumerate(read_metadata(metadata)):
        recording_id = str(row.get("id") or "").strip()
        recordings = [music / folder / f"{recording_id}.wav" for folder in RECORDING_FOLDERS]
        audio = next((path for path in recordings if path.is_file()), None)
        label = labels / f"{recording_id}.mid"
        if not recording_id:
            left_out.append((f"{metadata.name}:row{number + 1}", "no id"))
        elif recording_id in found:
            left_out.append((recording_id, f"a second row with id {recording_id} in {metadata.name}"))
        elif audio is None:
            left_out.append((recording_id, f"no recording {recordings[0]} (nor {recordings[1]})"))
        elif not label.is_file():
            left_out.append((recording_id, f"no MusicNet-EM label {label} (the EM release labels 323 of the 330 "
                                           "recordings)"))
        else:
            found[recording_id] = items.Item(
                id=recording_id, split=split_of(recording_id), audio=audio, midi=label, apply_sustain=False,
                fields={column: str(row.get(column) or "").strip() for column in ("composer", "composition", "ensemble")})
    return sorted(found.values(), key=lambda item: item.id), left_out


LAYOUT = items.Layout(
    name=NAME,
    configs=CONFIGS,
    level="piece",
    modalities=("midi", "audio"),
    description="MusicNet's 330 freely licensed classical chamber recordings (34 hours, 44.1 kHz) with the "
                "MusicNet-EM note labels of Maman & Bermano (2022), re-aligned by an EM process to about 32 ms "
                "onset accuracy and carrying the instruments; MT3's train/validation/test split.",
    homepage="https://benadar293.github.io",
    citation="""@inproceedings{maman2022unaligned,
  title={Unaligned Supervision for Automatic Music Transcription in The Wild},
  author={Ben Maman and Amit H. Bermano},
  booktitle={Proceedings of the 39th International Conference on Machine Learning},
  year={2022}
}
@inproceedings{thickstun2017learning,
  title={Learning Features of Music from Scratch},
  author={John Thickstun and Zaid Harchaoui and Sham M. Kakade},
  booktitle={International Conference on Learning Representations},
  year={2017}
}""",
    expected_layout=EXPECTED_LAYOUT,
    scan=scan,
)
