r"""Bakes codec tokens: runs trained codecs over a dataset and writes token records (TFRecord).

    # the embedded corpus: image + audio codes of every system, LMX and notes passed through
    python tools/bake_codec_tokens.py --image-codec runs/image_codec --audio-codec runs/audio_codec \
        --corpus small --out data/tokens/small
    # any directory of system images (already at 18 px staff height) or of recordings
    python tools/bake_codec_tokens.py --image-codec runs/image_codec --images-dir /data/systems --out data/tokens/x
    python tools/bake_codec_tokens.py --audio-codec runs/audio_codec --audio-dir /data/recordings --out data/tokens/y

Every example is baked with all shift variants (the model's data augmentation):
the 8×4 one-pixel image shifts and the 9 audio offsets −20, −15, …, +20 samples;
`--no-shifts` bakes only the unshifted codes. Output: `<out>/<split>/tokens-NNNNN.tfrecord`
(`mt_music.data.token_records` documents and reads the format) and `<out>/bake.json`.
Resumable: each shard of `--examples-per-shard` source examples is written atomically
and skipped when a re-run finds it. `tools/decode_codec_tokens.py` turns records back
into PNG / WAV.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

from mt_music.codecs import tokenizer
from mt_music.data import codec_windows as codec_data
from mt_music.data.token_bake import (
    Baker,
    bake_split,
    corpus_examples,
    corpus_size,
    directory_examples,
    directory_files,
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-codec", help="run directory of a trained image codec (codec.json + checkpoints)")
    parser.add_argument("--audio-codec", help="run directory of a trained audio codec")
    parser.add_argument("--image-codec-step", type=int, help="checkpoint step (default: the latest)")
    parser.add_argument("--audio-codec-step", type=int, help="checkpoint step (default: the latest)")
    parser.add_argument("--corpus", help="mt_music_corpus config to bake (tiny, small, full, …)")
    parser.add_argument("--splits", nargs="+", default=["train", "validation", "test"], help="corpus splits")
    parser.add_argument("--data-dir", help="corpus data dir (default: $MT_MUSIC_DATA_DIR or ~/.cache/mt_music/datasets)")
    parser.add_argument("--images-dir", help="a directory of system images (18 px staff height) instead of the corpus")
    parser.add_argument("--audio-dir", help="a directory of recordings instead of the corpus")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--no-shifts", action="store_true", help="bake only the unshifted codes")
    parser.add_argument("--examples-per-shard", type=int, default=64, help="records per output file (default 64)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not (args.image_codec or args.audio_codec):
        parser.error("give --image-codec and/or --audio-codec")
    if bool(args.corpus) == bool(args.images_dir or args.audio_dir):
        parser.error("give either --corpus or --images-dir/--audio-dir")
    if args.images_dir and not args.image_codec:
        parser.error("--images-dir needs --image-codec")
    if args.audio_dir and not args.audio_codec:
        parser.error("--audio-dir needs --audio-codec")
    if args.examples_per_shard < 1:
        parser.error("--examples-per-shard must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        image_codec = tokenizer.load_codec(args.image_codec, args.image_codec_step) if args.image_codec else None
        audio_codec = tokenizer.load_codec(args.audio_codec, args.audio_codec_step) if args.audio_codec else None
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for codec, kind in ((image_codec, "image"), (audio_codec, "audio")):
        if codec is not None and codec.kind != kind:
            print(f"error: --{kind}-codec points at an {codec.kind} codec", file=sys.stderr)
            return 2
    baker = Baker(image_codec, audio_codec, shifts=not args.no_shifts)
    out = pathlib.Path(args.out)
    started = time.perf_counter()
    summary = {"image_codec": args.image_codec, "image_codec_step": image_codec and image_codec.step,
               "audio_codec": args.audio_codec, "audio_codec_step": audio_codec and audio_codec.step,
               "image_shifts": baker.image_shifts if image_codec else [],
               "audio_shifts": list(baker.audio_shifts) if audio_codec else [], "splits": {}}
    try:
        if args.corpus:
            summary["corpus"] = args.corpus
            for split in args.splits:
                total = corpus_size(args.corpus, split, args.data_dir)
                examples = corpus_examples(args.corpus, split, args.data_dir)
                summary["splits"][split] = bake_split(baker, examples, total, out / split, args.examples_per_shard,
                                                      not args.no_progress, f"bake {split}")
        else:
            files = directory_files(args.images_dir, args.audio_dir)
            summary["splits"]["all"] = bake_split(baker, directory_examples(files), len(files), out / "all", args.examples_per_shard,
                                                  not args.no_progress, "bake")
    except codec_data.DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    summary["seconds"] = round(time.perf_counter() - started, 1)
    (out / "bake.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary["splits"]), f"in {summary['seconds']} s → {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
