"""Train / validation / test by video, 85 / 7 / 8, with every piece in one split only.

A video's split is a pure function of its id (SHA-256 → a number in [0, 1)), so it never depends on
which videos a user happens to have or on the order they are processed. Several videos of one piece
(same composer and title of piece in the CSV, compared case- and space-insensitively) would leak the
piece across splits, so they all go to the split of the piece's first video in the CSV's order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from mt_music.ytsv.metadata import COMPOSER, ID, TITLE, Row

SHARES = (("train", 0.85), ("validation", 0.07), ("test", 0.08))


def video_split(video_id: str) -> str:
    """The split a video's id hashes to."""
    digest = hashlib.sha256(video_id.encode("utf-8")).digest()
    position = int.from_bytes(digest[:8], "big") / 2.0**64
    bound = 0.0
    for split, share in SHARES:
        bound += share
        if position < bound:
            return split
    return SHARES[-1][0]


def piece_key(row: Row) -> tuple[str, str] | None:
    """(composer, title) normalised; None when either is blank (then the video is a piece of its own)."""
    composer, title = (" ".join((row.get(key) or "").split()).casefold() for key in (COMPOSER, TITLE))
    return (composer, title) if composer and title else None


def assign_splits(rows: Iterable[Row]) -> dict[str, str]:
    """YT Id → split for the CSV's rows (in its order: a piece's first video decides for the piece)."""
    splits: dict[str, str] = {}
    of_piece: dict[tuple[str, str], str] = {}
    for row in rows:
        video_id = row[ID]
        if video_id in splits:
            continue
        key = piece_key(row)
        split = of_piece.get(key) if key else None
        if split is None:
            split = video_split(video_id)
            if key:
                of_piece[key] = split
        splits[video_id] = split
    return splits
