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

import pathlib
import sys

from mt_music.corpus import build
from mt_music.corpus.contact_sheet import contact_sheet, examples_from_shards, examples_from_tfds
from mt_music.errors import (
    ArgumentParser,
    UserError,
    check_output_dir,
    check_output_file,
    check_positive,
    main_with_errors,
)

SPLITS = ("train", "validation", "test")


def shard_examples(paths: list[pathlib.Path], split: str | None, count: int) -> list[dict]:
    """Examples from the shards in order; a damaged shard or example is reported and skipped."""
    examples = []
    for path in paths:
        if len(examples) >= count:
            break
        try:
            found = examples_from_shards([path], split, count - len(examples))
        except Exception as error:  # noqa: BLE001 - a damaged tar must not stop the sheet
            print(f"warning: skipping {path}: cannot read it ({type(error).__name__}: {error})", file=sys.stderr)
            continue
        for example in found:
            try:
                contact_sheet([example])  # a damaged PNG, FLAC or field shows here, not in the whole sheet
            except Exception as error:  # noqa: BLE001
                print(f"warning: skipping {example.get('id', path)} of {path}: {type(error).__name__}: {error}",
                      file=sys.stderr)
            else:
                examples.append(example)
    return examples


def main(argv: list[str] | None = None) -> int:
    return main_with_errors(_main, argv)


def _main(argv: list[str] | None) -> int:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=sorted(build.NAMED_SPECS), default="small",
                        help="named build whose shards to read (default: small)")
    parser.add_argument("--shards", type=pathlib.Path, help="a shard folder or .tar file instead")
    parser.add_argument("--tfds", metavar="CONFIG", help="read through TFDS (e.g. small) instead of shards")
    parser.add_argument("--data-dir", type=pathlib.Path, default=None)
    parser.add_argument("--split", default=None, help="train / validation / test (default: any; TFDS: train)")
    parser.add_argument("--count", type=int, default=6)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/corpus_contact_sheet.png"))
    args = parser.parse_args(argv)
    check_positive(args.count, "--count")
    if args.split is not None and args.split not in SPLITS:
        raise UserError(f"--split: unknown split {args.split!r}; give one of {', '.join(SPLITS)}")
    if args.out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
        raise UserError(f"--out: {args.out} needs an image suffix (.png)")
    check_output_dir(args.out.parent, "--out (its folder)")
    check_output_file(args.out, "--out")
    data_dir = args.data_dir or build.default_data_dir()
    if args.tfds:
        from mt_music.corpus import tfds_builder

        tfds_builder.prepared_builder(args.tfds, data_dir)
        examples = examples_from_tfds(args.tfds, data_dir, args.split or "train", args.count)
    else:
        source = args.shards or build.shard_dir(data_dir, build.NAMED_SPECS[args.config])
        if not source.exists():
            raise UserError(f"--shards: {source} does not exist; build first (tools/build_corpus.py)")
        paths = [source] if source.is_file() else sorted(source.glob("*.tar"))
        if not paths:
            raise UserError(f"no shards (.tar) in {source}; build first (tools/build_corpus.py)")
        examples = shard_examples(paths, args.split, args.count)
    if not examples:
        raise UserError(f"no usable examples{' of split ' + args.split if args.split else ''} found; nothing to draw")
    contact_sheet(examples).save(args.out)
    print(f"wrote {args.out} ({len(examples)} examples)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
