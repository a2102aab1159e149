"""YTSV pairs: score-following videos cut into (slide systems image, audio span) pairs by `tools/ytsv_pairs.py`.

YTSV itself publishes only metadata (`assets/ytsv/ytsv_metadata.csv`, 12,317 YouTube videos, CC BY-NC-SA);
the videos are the user's. The manual directory is therefore the output folder of `tools/ytsv_pairs.py`
(`mt_music.ytsv`), whose layout this reads: `pairs.jsonl` with one JSON line per kept slide — id
"<YT Id>/slide-NNN", video_id, slide, split (by video, 85/7/8, a piece in one split only), start / end (s,
the slide's span padded by ⅓ s), image (the crop from the first system's top to the last one's bottom),
systems (the per-system crops and boxes), audio, composer, title, instrumentation — next to one folder
per video holding those files and `audio.flac` (the whole performance, 44.1 kHz mono).

Decisions: one item per kept slide at level "system" (a slide's systems, joined, and their audio); its
image is `slide-NNN-systems.png`, its audio `audio.flac` cut to the padded span; fields are the pairs.jsonl
row plus piece_id "<composer>/<title>". Rows whose files are missing are left out, logged, and listed by
`missing`.
"""

from __future__ import annotations

import json
import pathlib

from mt_music.datasets import items

NAME = "ytsv"
CONFIGS = ("pairs",)
PAIRS_FILE = "pairs.jsonl"
EXPECTED_LAYOUT = f"""\
<manual_dir>/                       (the --out folder of tools/ytsv_pairs.py)
    {PAIRS_FILE}                     (one JSON line per kept slide pair)
    summary.json
    <YT Id>/
        audio.flac                  (the whole performance, 44.1 kHz mono)
        slide-NNN.png               (the slide's middle frame)
        slide-NNN-systems.png       (its systems, first top to last bottom)
        slide-NNN-sM.png            (each system)"""


def read_pairs(root: pathlib.Path) -> list[dict]:
    path = items.require(root / PAIRS_FILE, EXPECTED_LAYOUT)
    rows = []
    try:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError(f"line {number} is not a JSON object")
                rows.append(row)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise items.LayoutError(f"{path}: unreadable ({error}); expected {EXPECTED_LAYOUT}") from error
    return rows


def scan(root: pathlib.Path, config: str) -> tuple[list[items.Item], list[tuple[str, str]]]:
    """Every pairs.jsonl row whose files exist as an Item, and (id, reason) for every row left out."""
    found: dict[str, items.Item] = {}
    left_out: list[tuple[str, str]] = []
    for number, row in enumerate(read_pairs(root), 1):
        video_id, item_id = str(row.get("video_id") or ""), str(row.get("id") or f"{PAIRS_FILE}:line{number}")
        folder = root / video_id
        image, audio = folder / str(row.get("image") or ""), folder / str(row.get("audio") or "")
        start, end = row.get("start"), row.get("end")
        if not video_id or not row.get("image") or not row.get("audio"):
            reason = f"line {number} of {PAIRS_FILE} names no video, image or audio"
        elif row.get("split") not in items.SPLITS:
            reason = f"unknown split {row.get('split')!r} (known: {', '.join(items.SPLITS)})"
        elif not isinstance(start, (int, float)) or not isinstance(end, (int, float)) or end <= start:
            reason = f"bad span {start!r}–{end!r}"
        elif item_id in found:
            reason = f"a second row with id {item_id}"
        elif not image.is_file():
            reason = f"no image file {image}"
        elif not audio.is_file():
            reason = f"no audio file {audio}"
        else:
            fields = dict(row) | {"piece_id": f"{row.get('composer', '')}/{row.get('title', '')}"}
            found[item_id] = items.Item(id=item_id, split=row["split"], image=image, audio=audio,
                                        span=(float(start), float(end)), fields=fields)
            continue
        left_out.append((item_id, reason))
    return sorted(found.values(), key=lambda item: item.id), left_out


LAYOUT = items.Layout(
    name=NAME,
    configs=CONFIGS,
    level="system",
    modalities=("image", "audio"),
    description="YTSV: YouTube score-following videos (12,317 in the metadata, CC BY-NC-SA) cut into slide "
                "pairs — a page's systems and the performance audio while it is shown — by tools/ytsv_pairs.py "
                "from the videos a user has.",
    homepage="https://arxiv.org/abs/2505.12863",
    citation="""@article{umust2025,
  title={Unified Cross-modal Translation of Score Images, Symbolic Music, and Performance Audio},
  journal={arXiv preprint arXiv:2505.12863},
  year={2025}
}""",
    expected_layout=EXPECTED_LAYOUT,
    scan=scan,
)
