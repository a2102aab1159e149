#!/usr/bin/env python
"""A contact sheet of built corpus examples: system image, LMX, piano roll and audio envelope.

    python tools/contact_sheet.py                         # 6 examples of the small build
    python tools/contact_sheet.py --count 10 --split test --out sheet.png
    python tools/contact_sheet.py --shards /path/to/render-xxxx   # any build's shard folder
    python tools/contact_sheet.py --tfds small            # read through TFDS instead

Each row: the system image as stored (18 px staff height), a caption (example id, span, tempo,
soundfont, font, transposition), the LMX tokens wrapped, the notes as a piano roll over the span
(velocity as shade) and the audio envelope on the same time axis, so a person can see that the
four modalities describe the same music.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from mt_music.corpus import build
from mt_music.corpus.contact_sheet import contact_sheet, examples_from_shards, examples_from_tfds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=sorted(build.NAMED_SPECS), default="small",
                        help="named build whose shards to read (default: small)")
    parser.add_argument("--shards", type=pathlib.Path, help="a shard folder or .tar file instead")
    parser.add_argument("--tfds", metavar="CONFIG", help="read through TFDS (e.g. small) instead of shards")
    parser.add_argument("--data-dir", type=pathlib.Path, default=None)
    parser.add_argument("--split", default=None, help="train / validation / test (default: any; TFDS: train)")
    parser.add_argument("--count", type=int, default=6)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/corpus_contact_sheet.png"))
    args = parser.parse_args(argv)
    data_dir = args.data_dir or build.default_data_dir()
    if args.tfds:
        examples = examples_from_tfds(args.tfds, data_dir, args.split or "train", args.count)
    else:
        source = args.shards or build.shard_dir(data_dir, build.NAMED_SPECS[args.config])
        paths = [source] if source.is_file() else sorted(source.glob("*.tar"))
        if not paths:
            print(f"error: no shards in {source}; build first (tools/build_corpus.py)", file=sys.stderr)
            return 1
        examples = examples_from_shards(paths, args.split, args.count)
    if not examples:
        print("error: no examples found", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(examples).save(args.out)
    print(f"wrote {args.out} ({len(examples)} examples)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
