"""The YTSV metadata CSV: one row per video, keyed by its YouTube id.

The rows give each pair its composer / title / instrumentation and each video its piece (which the
splits keep together); the CSV's Duration ("6:19", "1:02:03", "49") is the check that a local file
really is that video and not another one saved under its id.
"""

from __future__ import annotations

import csv
import pathlib

from mt_music.errors import UserError

DEFAULT_METADATA = pathlib.Path(__file__).resolve().parents[2] / "assets" / "ytsv" / "ytsv_metadata.csv"
ID, DURATION, COMPOSER, TITLE, INSTRUMENTATION = ("YT Id", "Duration", "Composer Full Name", "Title of Piece",
                                                  "Instrumentation")
REQUIRED = (ID, DURATION, COMPOSER, TITLE, INSTRUMENTATION)
DURATION_TOLERANCE_SECONDS = 3.0  # the CSV rounds to whole seconds; re-muxed downloads differ a little
DURATION_TOLERANCE_SHARE = 0.03

Row = dict[str, str]


def read_metadata(path: str | pathlib.Path) -> dict[str, Row]:
    """YT Id → row, in the CSV's order (a repeated id keeps its first row); UserError if not the YTSV CSV."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise UserError(f"--metadata: {path} does not exist (the YTSV CSV is assets/ytsv/ytsv_metadata.csv)")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [column for column in REQUIRED if column not in (reader.fieldnames or [])]
            if missing:
                raise UserError(f"--metadata: {path} is not the YTSV metadata CSV (no column "
                                f"{', '.join(repr(c) for c in missing)})")
            rows: dict[str, Row] = {}
            for row in reader:
                video_id = (row.get(ID) or "").strip()
                if video_id and video_id not in rows:
                    rows[video_id] = {key: (value or "").strip() for key, value in row.items() if key}
    except (UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"--metadata: {path} is not a readable CSV ({error})") from error
    if not rows:
        raise UserError(f"--metadata: {path} has no rows")
    return rows


def duration_seconds(text: str) -> float | None:
    """"6:19" → 379, "1:02:03" → 3723, "49" → 49; None when it is not such a duration."""
    parts = (text or "").strip().split(":")
    if not 1 <= len(parts) <= 3 or not all(part.strip().isdigit() for part in parts):
        return None
    seconds = 0
    for part in parts:
        seconds = 60 * seconds + int(part)
    return float(seconds)


def duration_mismatch(video_seconds: float, row: Row) -> str | None:
    """Why the file cannot be the CSV's video (its length differs), or None when it is close enough."""
    expected = duration_seconds(row.get(DURATION, ""))
    if expected is None:
        return None  # nothing to check against
    tolerance = max(DURATION_TOLERANCE_SECONDS, DURATION_TOLERANCE_SHARE * expected)
    if abs(video_seconds - expected) > tolerance:
        return (f"the file lasts {video_seconds:.1f} s but the CSV says {row.get(DURATION)} "
                f"({expected:.0f} s); is it another video saved under this id?")
    return None


def pair_fields(row: Row) -> dict[str, str]:
    """The CSV fields every pair of the video carries."""
    return {"composer": row.get(COMPOSER, ""), "title": row.get(TITLE, ""),
            "instrumentation": row.get(INSTRUMENTATION, "")}
