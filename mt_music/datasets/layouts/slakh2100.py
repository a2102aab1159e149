"""Slakh2100 (the flac "redux" release): mixes of Lakh MIDI songs rendered stem by stem.

Layout source: ethman/slakh-utils README.md ("At a Glance", "Metadata") and splits/ (README.md,
redux.json, resplit_slakh.py); mir-dataset-loaders/mirdata mirdata/datasets/slakh.py. The release
`slakh2100_flac_redux.tar.gz` (https://zenodo.org/record/4599666) unpacks to `slakh2100_flac_redux/`
with `train/` (1289 tracks), `validation/` (270), `test/` (151) and `omitted/` (390), each track a
`TrackNNNNN/` folder holding `mix.flac` (44.1 kHz mono), `metadata.yaml`, `all_src.mid`,
`MIDI/Sxx.mid` and `stems/Sxx.flac`. metadata.yaml has UUID, lmd_midi_dir, audio_dir ("stems"),
midi_dir ("MIDI"), normalized, overall_gain, … and `stems: {S00: {program_num, is_drum, inst_class,
midi_program_name, plugin_name, audio_rendered, midi_saved, integrated_loudness}, …}`; drums have
is_drum true and program_num 128.

An item is a track of train/validation/test (id "TrackNNNNN", the split its folder's name: Slakh's
own splits, which MT3 uses). Its audio is mix.flac and its notes are the stems whose audio was rendered
(audio_rendered) and whose MIDI was saved (midi_saved): `Item.stems` with metadata.yaml's program_num
and is_drum (program 0 for drums, this project's convention and MT3's), not the programs inside the stem
MIDI files. Sustain is applied (as MT3 does for every Slakh stem). Fields: uuid (the Lakh MIDI file's
name). `omitted/` is never read.

The original release (Slakh2100-orig, 2100 tracks in train/validation/test by track-number ranges
00001–01500 / 01501–01875 / 01876–02100, no omitted/) has the same track layout; redux only moved the
390 tracks whose MIDI duplicates another's into omitted/ (redux.json: 'omit', never 'move'). So a
Slakh2100-orig folder is read as redux too: those 390 ids (REDUX_OMITTED) are left out wherever they
are and reported by `missing`. (The "split2" re-split, splits_v2.json, moves tracks between splits and
is not supported.)

Not used: all_src.mid, stems/*.flac, and the metadata beyond the stems' program_num / is_drum /
audio_rendered / midi_saved and the UUID. MT3's own preprocessing differs in two ways worth knowing: it
maps each stem to its Slakh class's program (inst_class) rather than program_num, and it drops examples
whose MIDI has pitch bends.
"""

from __future__ import annotations

import pathlib
import re

import yaml
from absl import logging

from mt_music.datasets import items

NAME = "slakh2100"
CONFIGS = ("redux",)
FOLDER = "slakh2100_flac_redux"
SPLIT_FOLDERS = ("train", "validation", "test")  # Slakh's names are ours; "omitted" is left out
TRACK = re.compile(r"Track\d{5}")
# The 390 track numbers that Slakh2100-redux moves to omitted/ (ethman/slakh-utils splits/redux.json).
REDUX_OMITTED = frozenset({
    49, 77, 146, 170, 212, 232, 240, 251, 256, 280, 296, 299, 350, 356, 365, 366, 386, 401, 422, 424, 425, 450,
    470, 476, 486, 495, 504, 521, 536, 539, 554, 566, 602, 611, 613, 620, 623, 640, 642, 646, 647, 675, 678,
    688, 697, 699, 706, 714, 715, 719, 720, 732, 744, 750, 757, 762, 764, 773, 790, 796, 800, 810, 820, 821,
    829, 833, 847, 848, 851, 862, 877, 884, 895, 899, 916, 919, 925, 933, 934, 935, 942, 956, 960, 961, 962,
    964, 969, 981, 982, 990, 997, 1000, 1011, 1020, 1028, 1046, 1052, 1061, 1066, 1067, 1068, 1071, 1079, 1081,
    1087, 1090, 1093, 1099, 1109, 1111, 1116, 1117, 1120, 1129, 1130, 1132, 1133, 1137, 1139, 1140, 1143, 1144,
    1147, 1152, 1156, 1162, 1169, 1171, 1176, 1179, 1180, 1182, 1186, 1187, 1189, 1191, 1200, 1207, 1209, 1210,
    1219, 1220, 1227, 1230, 1233, 1235, 1239, 1240, 1248, 1256, 1261, 1282, 1283, 1289, 1291, 1292, 1294, 1295,
    1299, 1304, 1305, 1306, 1308, 1312, 1316, 1317, 1319, 1325, 1326, 1329, 1338, 1344, 1345, 1348, 1352, 1357,
    1371, 1372, 1378, 1391, 1400, 1402, 1407, 1410, 1412, 1416, 1417, 1423, 1424, 1429, 1435, 1436, 1438, 1441,
    1442, 1444, 1445, 1446, 1447, 1450, 1455, 1467, 1469, 1470, 1472, 1478, 1484, 1490, 1493, 1498, 1499, 1506,
    1534, 1535, 1536, 1538, 1541, 1543, 1544, 1547, 1549, 1550, 1553, 1555, 1562, 1567, 1569, 1572, 1577, 1585,
    1587, 1593, 1596, 1600, 1601, 1603, 1608, 1609, 1610, 1617, 1627, 1633, 1636, 1637, 1638, 1640, 1648, 1651,
    1658, 1663, 1667, 1668, 1669, 1671, 1673, 1680, 1682, 1683, 1684, 1686, 1687, 1699, 1704, 1711, 1712, 1721,
    1722, 1726, 1728, 1729, 1734, 1736, 1740, 1748, 1752, 1755, 1759, 1764, 1765, 1767, 1780, 1784, 1786, 1794,
    1798, 1800, 1801, 1808, 1810, 1811, 1816, 1817, 1818, 1822, 1829, 1831, 1832, 1833, 1834, 1839, 1842, 1844,
    1846, 1847, 1850, 1853, 1854, 1857, 1859, 1862, 1863, 1864, 1866, 1868, 1871, 1872, 1879, 1885, 1890, 1894,
    1909, 1910, 1912, 1914, 1915, 1919, 1921, 1922, 1923, 1924, 1926, 1933, 1938, 1939, 1941, 1942, 1944, 1946,
    1953, 1958, 1964, 1966, 1969, 1970, 1971, 1979, 1983, 1984, 1988, 1991, 1992, 1999, 2006, 2009, 2011, 2012,
    2015, 2021, 2022, 2025, 2027, 2028, 2033, 2034, 2035, 2039, 2041, 2043, 2055, 2057, 2058, 2059, 2060, 2065,
    2066, 2068, 2071, 2072, 2073, 2075, 2076, 2077, 2078, 2080, 2085, 2089, 2091, 2097, 2099, 2100
})

EXPECTED_LAYOUT = f"""\
<manual_dir>/{FOLDER}/      (slakh2100_flac_redux.tar.gz unpacked; or train/ … directly in <manual_dir>)
    train/ validation/ test/   (omitted/ is not read)
        TrackNNNNN/
            mix.flac
            metadata.yaml
            MIDI/Sxx.mid      (for every stem with audio_rendered and midi_saved true)"""


def dataset_dir(manual_dir: pathlib.Path) -> pathlib.Path:
    """The folder holding the split folders: `manual_dir` itself or its `slakh2100_flac_redux/`."""
    for candidate in (manual_dir, manual_dir / FOLDER):
        if any((candidate / split).is_dir() for split in SPLIT_FOLDERS):
            return candidate
    raise items.LayoutError(f"{manual_dir / FOLDER / 'train'} is missing (nor is there validation/ or test/ beside it, "
                            f"or directly in {manual_dir}); expected {EXPECTED_LAYOUT}")


def read_track(track: pathlib.Path, split: str) -> items.Item:
    """The Item of one track folder; ValueError with the reason when it cannot be one."""
    metadata_path = track / "metadata.yaml"
    if not metadata_path.is_file():
        raise ValueError(f"no {metadata_path}")
    try:
        metadata = yaml.safe_load(metadata_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ValueError(f"unreadable {metadata_path} ({' '.join(str(error).split())})") from error
    stems_metadata = metadata.get("stems") if isinstance(metadata, dict) else None
    if not isinstance(stems_metadata, dict):
        raise ValueError(f"{metadata_path} has no stems")
    mix = track / "mix.flac"
    if not mix.is_file():
        raise ValueError(f"no mix {mix}")
    midi_dir = track / str(metadata.get("midi_dir") or "MIDI")
    stems = []
    for name in sorted(stems_metadata):
        stem = stems_metadata[name] or {}
        if not (stem.get("audio_rendered") and stem.get("midi_saved")):
            continue
        midi = midi_dir / f"{name}.mid"
        if not midi.is_file():
            raise ValueError(f"no MIDI {midi} of stem {name} (its metadata says midi_saved)")
        is_drum = bool(stem.get("is_drum"))
        try:
            program = 0 if is_drum else int(stem.get("program_num"))
        except (TypeError, ValueError):
            raise ValueError(f"stem {name} in {metadata_path} has no program_num") from None
        if not 0 <= program <= 127:
            raise ValueError(f"stem {name} in {metadata_path} has program_num {program} (not 0–127)")
        stems.append(items.Stem(midi=midi, program=program, is_drum=is_drum))
    if not stems:
        raise ValueError(f"no stem with rendered audio and saved MIDI in {metadata_path}")
    return items.Item(id=track.name, split=split, audio=mix, stems=tuple(stems), apply_sustain=True,
                      fields={"uuid": str(metadata.get("UUID") or "")})


def scan(root: pathlib.Path, config: str) -> tuple[list[items.Item], list[tuple[str, str]]]:
    """Every usable track of train/validation/test as an Item, and (id, reason) for the others."""
    base = dataset_dir(root)
    found: dict[str, items.Item] = {}
    left_out: list[tuple[str, str]] = []
    for split in SPLIT_FOLDERS:
        folder = base / split
        if not folder.is_dir():
            logging.warning("%s: no %s (its split has no tracks)", NAME, folder)
            continue
        for track in sorted(folder.iterdir()):
            if not (track.is_dir() and TRACK.fullmatch(track.name)):
                continue
            if int(track.name[5:]) in REDUX_OMITTED:
                left_out.append((track.name, f"{track} is omitted from Slakh2100-redux (its MIDI duplicates "
                                             "another track's)"))
            elif track.name in found:
                left_out.append((track.name, f"{track} is also in {found[track.name].split}/"))
            else:
                try:
                    found[track.name] = read_track(track, split)
                except ValueError as error:
                    left_out.append((track.name, str(error)))
    return sorted(found.values(), key=lambda item: item.id), left_out


LAYOUT = items.Layout(
    name=NAME,
    configs=CONFIGS,
    level="piece",
    modalities=("midi", "audio"),
    description="Slakh2100-redux: 1710 songs of the Lakh MIDI dataset rendered stem by stem with professional "
                "sample-based virtual instruments and mixed (44.1 kHz), with each stem's MIDI; duplicates omitted.",
    homepage="http://www.slakh.com",
    citation="""@inproceedings{manilow2019cutting,
  title={Cutting Music Source Separation Some {Slakh}: A Dataset to Study the Impact of Training Data Quality and
         Quantity},
  author={Manilow, Ethan and Wichern, Gordon and Seetharaman, Prem and Le Roux, Jonathan},
  booktitle={Proc. IEEE Workshop on Applications of Signal Processing to Audio and Acoustics (WASPAA)},
  year={2019},
  organization={IEEE}
}""",
    expected_layout=EXPECTED_LAYOUT,
    scan=scan,
)
