#!/usr/bin/env python
"""Cuts the YouTube score-following videos you have (YTSV) into slide/system ↔ audio pairs.

    python tools/ytsv_pairs.py --videos ~/ytsv_videos --out data/ytsv_pairs [--ids ID ...] [--workers 2]

--videos holds the videos, each named by its YouTube id: `<YT Id>.<ext>` (mp4, webm, mkv: any container
ffmpeg reads; nothing is downloaded). For each video listed in the metadata CSV, about 3 frames per
second are compared (grayscale, blurred); every static section is a slide, whose middle frame is kept.
Silent slides (title and end cards), slides shorter than 3 s or longer than 20 s, slides without staves
and pairs over the model's length limits are dropped; the kept slides' systems are cropped and their
audio span is padded by 1/3 s on both sides. Splits are by video (85/7/8), a piece never in two splits.

Output (--out):
    <YT Id>/slide-NNN.png, slide-NNN-systems.png, slide-NNN-sM.png, audio.flac, summary.json
    pairs.jsonl     one line per kept slide (id, split, padded span, crops, composer/title/instrumentation)
    summary.json    per video and in total: slides found, kept, dropped by reason, systems, hours
A video whose folder is complete is skipped, so rerunning continues an interrupted run. Videos not in the
CSV are listed as skipped, unreadable ones as failed with the reason; the exit status is 2 only when
no video could be done at all. The output is mt_music.datasets.layouts.ytsv's manual directory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mt_music.data import distributed
from mt_music.errors import ArgumentParser, UserError, check_positive, main_with_errors
from mt_music.ytsv import pipeline
from mt_music.ytsv.metadata import DEFAULT_METADATA


def _main(argv: list[str] | None) -> int:
    parser = ArgumentParser(prog="tools/ytsv_pairs.py", description=__doc__.split("\n\n")[0],
                            epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=Path, required=True, help="folder of <YT Id>.<ext> video files")
    parser.add_argument("--metadata", type=Path, default=DEFAULT_METADATA,
                        help="the YTSV metadata CSV (default: assets/ytsv/ytsv_metadata.csv)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created; resumable)")
    parser.add_argument("--ids", nargs="+", default=None, metavar="YT_ID", help="only these videos")
    parser.add_argument("--workers", type=int, default=1, help="videos cut in parallel (processes; default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    distributed.add_runner_flags(parser)
    args = parser.parse_args(argv)
    check_positive(args.workers, "--workers")
    summary = pipeline.run(args.videos, args.metadata, args.out, ids=args.ids, workers=args.workers,
                           progress=not args.no_progress, runner=args.runner, beam_args=tuple(args.beam_option))
    totals, run = summary["totals"], summary["run"]
    for video_id, reason in summary["failed"].items():
        print(f"failed {video_id}: {reason}")
    print(f"{run['processed']} videos cut, {run['resumed']} already done, {run['failed']} failed, "
          f"{run['skipped']} skipped; {totals['pairs']} pairs ({totals['pair_hours']:.2f} h) from "
          f"{totals['slides_found']} slides, {totals['systems']} systems → {args.out}")
    if run["processed"] + run["resumed"] == 0:
        reasons = list(summary["failed"].items()) + list(summary["skipped"].items())
        shown = "; ".join(f"{video_id}: {reason}" for video_id, reason in reasons[:3])
        more = f" (and {len(reasons) - 3} more, see {args.out / 'summary.json'})" if len(reasons) > 3 else ""
        raise UserError(f"no video could be cut: {shown}{more}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return main_with_errors(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
