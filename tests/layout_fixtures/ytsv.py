"""The YTSV pairs fixture: a real score-following video (`tests/ytsv_fixture.py`: verovio slides, FluidSynth
audio, muxed by ffmpeg) cut by the pipeline (`mt_music.ytsv.pipeline`) into the folder `layouts/ytsv` reads:
the layout of that folder is ours (YTSV publishes only metadata), documented in `layouts/ytsv.py`."""

from __future__ import annotations

import json
import pathlib

import ytsv_fixture

from layout_fixtures import ExpectedItem, Fixture


def write(root: pathlib.Path) -> list[Fixture]:
    from mt_music.ytsv import pipeline

    videos = root.parent / f"{root.name}-videos"
    videos.mkdir(parents=True)
    truth = ytsv_fixture.make_video(videos)
    csv = ytsv_fixture.write_csv(videos.parent / f"{root.name}-ytsv.csv", [truth.csv_row])
    pipeline.run(videos, csv, root, progress=False)
    rows = [json.loads(line) for line in (root / "pairs.jsonl").read_text().splitlines()]
    assert len(rows) == len(truth.slides), rows  # the pipeline's own checks are tests/test_ytsv.py's
    items = [ExpectedItem(row["id"], row["split"], num_notes=0, duration=row["end"] - row["start"],
                          fields={"video_id": truth.video_id}) for row in rows]
    return [Fixture("pairs", items)]
