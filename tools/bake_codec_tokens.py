r"""Bakes codec tokens: runs trained or fitted codecs over a dataset and writes token records (TFRecord).

    # the embedded corpus: image + audio codes of every system, LMX and notes passed through
    python tools/bake_codec_tokens.py --image-codec runs/image_codec --audio-codec runs/audio_codec \
        --corpus small --out data/tokens/small
    # whole pieces' audio and notes, for the AMT windows (tasks mt_music_corpus_small_pieces_*)
    python tools/bake_codec_tokens.py --audio-codec runs/audio_codec --corpus small_pieces --out data/tokens/small_pieces
    # a published dataset built by tools/build_dataset.py (NAME/CONFIG): maestro/v3, olimpic/synthetic, …
    python tools/bake_codec_tokens.py --audio-codec runs/audio_codec --corpus maestro/v3 --out data/tokens/maestro_v3
    # any directory of system images (already at 18 px staff height) or of recordings
    python tools/bake_codec_tokens.py --image-codec runs/image_codec --images-dir /data/systems --out data/tokens/x
    python tools/bake_codec_tokens.py --audio-codec runs/audio_codec --audio-dir /data/recordings --out data/tokens/y

Every example is baked with all shift variants (the model's data augmentation):
the 8×4 one-pixel image shifts and the 9 audio offsets −20, −15, …, +20 samples;
`--no-shifts` bakes only the unshifted codes; `--image-variants N` / `--audio-variants N` bake N of
them, evenly spread (the unshifted one always; `make` bakes 4 and 3 for a quick first run);
`--degraded-variants N` adds N degraded copies of each image (inputs only). Output: `<out>/<split>/tokens-NNNNN.tfrecord`
(`mt_music.data.token_records` documents and reads the format) and `<out>/bake.json`.
Resumable: each shard of `--examples-per-shard` source examples is written atomically
and skipped when a re-run with the same codecs finds it. Each shard records its codecs
(path, step, parameter fingerprint) in `<shard>.codec.json`; a bake with other codecs into
the same `--out` stops before writing anything, unless `--overwrite` re-bakes every shard.
Unreadable and silent inputs are skipped with a note; a bake with nothing usable is an error.
`--runner DirectRunner` (or any Beam runner, with --beam-option=…) bakes a --corpus's shards as an
Apache Beam pipeline, one unit per shard, into the same files.
`tools/decode_codec_tokens.py` turns records back into PNG / WAV.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from mt_music.codecs import tokenizer
from mt_music.data import bake_units, distributed
from mt_music.data.token_bake import (
    Baker,
    bake_split,
    check_existing_shards,
    codec_identity,
    corpus_examples,
    corpus_size,
    directory_examples,
    directory_files,
)
from mt_music.errors import ArgumentParser, UserError, check_output_dir, check_positive, main_with_errors


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-codec", help="directory of a trained or fitted image codec (codec.json + …)")
    parser.add_argument("--audio-codec", help="directory of a trained or fitted audio codec")
    parser.add_argument("--image-codec-step", type=int, help="checkpoint step (default: the latest)")
    parser.add_argument("--audio-codec-step", type=int, help="checkpoint step (default: the latest)")
    parser.add_argument("--corpus", help="mt_music_corpus config to bake (tiny, small, full, …), or a published dataset's "
                             "NAME/CONFIG built by tools/build_dataset.py (maestro/v3, olimpic/synthetic, …)")
    parser.add_argument("--splits", nargs="+", default=["train", "validation", "test"], help="splits (a dataset's split it does not ship is left out)")
    parser.add_argument("--data-dir", help="corpus data dir (default: $MT_MUSIC_DATA_DIR or ~/.cache/mt_music/datasets)")
    parser.add_argument("--images-dir", help="a directory of system images (18 px staff height) instead of the corpus")
    parser.add_argument("--audio-dir", help="a directory of recordings instead of the corpus")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--no-shifts", action="store_true", help="bake only the unshifted codes")
    parser.add_argument("--image-variants", type=int, help="bake this many of the 32 image shifts (default: all)")
    parser.add_argument("--audio-variants", type=int, help="bake this many of the 9 audio offsets (default: all)")
    parser.add_argument("--degraded-variants", type=int, default=0,
                        help="also bake this many degraded copies of each image (rotation ±1°, erosion/dilation, "
                             "noise, contrast), for use as inputs only (default 0)")
    parser.add_argument("--examples-per-shard", type=int, default=64, help="records per output file (default 64)")
    parser.add_argument("--overwrite", action="store_true",
                        help="re-bake shards that other codecs made (default: stop with an error)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    distributed.add_runner_flags(parser)
    parser.add_argument("--workers", type=int, help="Beam workers (with --runner DirectRunner; default: all cores)")
    args = parser.parse_args(argv)
    if not (args.image_codec or args.audio_codec):
        parser.error("give --image-codec and/or --audio-codec")
    if bool(args.corpus) == bool(args.images_dir or args.audio_dir):
        parser.error("give either --corpus or --images-dir/--audio-dir")
    if args.images_dir and not args.image_codec:
        parser.error("--images-dir needs --image-codec")
    if args.audio_dir and not args.audio_codec:
        parser.error("--audio-dir needs --audio-codec")
    for flag in ("image_variants", "audio_variants"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")
    if args.degraded_variants < 0:
        parser.error("--degraded-variants must be 0 or more")
    if args.examples_per_shard < 1:
        parser.error("--examples-per-shard must be at least 1")
    if args.runner != distributed.LOCAL and not args.corpus:
        parser.error("--runner other than local bakes a --corpus (a directory bake runs here)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    out = check_output_dir(args.out, "--out")
    for step, flag in ((args.image_codec_step, "--image-codec-step"), (args.audio_codec_step, "--audio-codec-step")):
        if step is not None:
            check_positive(step, flag, allow_zero=True)
    image_codec = _load(args.image_codec, args.image_codec_step, "image")
    audio_codec = _load(args.audio_codec, args.audio_codec_step, "audio")
    codecs = {"image": codec_identity(image_codec, args.image_codec), "audio": codec_identity(audio_codec, args.audio_codec)}
    mismatched = check_existing_shards(out, codecs)
    if mismatched and not args.overwrite:
        raise UserError(f"{out} holds {len(mismatched)} shards baked with other codecs (e.g. {mismatched[0]}); bake "
                        "into a new --out, or pass --overwrite to bake them again with these codecs")
    baker = Baker(image_codec, audio_codec, shifts=not args.no_shifts, image_variants=args.image_variants,
                  audio_variants=args.audio_variants, degraded_variants=args.degraded_variants)
    started = time.perf_counter()
    summary = {"image_codec": args.image_codec, "image_codec_step": image_codec and image_codec.step,
               "audio_codec": args.audio_codec, "audio_codec_step": audio_codec and audio_codec.step,
               "codecs": codecs, "image_shifts": baker.image_shifts if image_codec else [],
               "audio_shifts": list(baker.audio_shifts) if audio_codec else [], "splits": {}}
    bake = dict(examples_per_shard=args.examples_per_shard, progress=not args.no_progress, codecs=codecs,
                overwrite=args.overwrite)
    if args.corpus:
        summary["corpus"] = args.corpus
        sizes = {split: corpus_size(args.corpus, split, args.data_dir) for split in args.splits}  # fails early
        for split in args.splits:
            if args.runner == distributed.LOCAL:
                summary["splits"][split] = bake_split(baker, corpus_examples(args.corpus, split, args.data_dir),
                                                      sizes[split], out / split, description=f"bake {split}", **bake)
            else:
                summary["splits"][split] = _bake_with_beam(args, split, sizes[split], out / split, codecs)
    else:
        files = directory_files(args.images_dir, args.audio_dir)
        if not files:
            raise UserError(f"no image or audio files in {args.images_dir or args.audio_dir}")
        summary["splits"]["all"] = bake_split(baker, directory_examples(files), len(files), out / "all",
                                              description="bake", **bake)
    done = sum(split["examples_written"] + split["examples_skipped_existing"] for split in summary["splits"].values())
    if not done:
        raise UserError("nothing was baked: no input example was usable (see the notes above)")
    summary["seconds"] = round(time.perf_counter() - started, 1)
    (out / "bake.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary["splits"]), f"in {summary['seconds']} s → {out}")
    return 0


def _bake_with_beam(args: argparse.Namespace, split: str, total: int, out_dir, codecs: dict) -> dict:
    """One Beam unit per shard (`mt_music.data.bake_units`): the same shard files as the sequential bake."""
    settings = bake_units.BakeSettings(args.image_codec, args.image_codec_step, args.audio_codec, args.audio_codec_step,
                                       not args.no_shifts, args.image_variants, args.audio_variants,
                                       args.degraded_variants)
    units = bake_units.shard_units(settings, args.corpus, split, total, args.data_dir, out_dir, args.examples_per_shard,
                                   codecs)
    counts = {"examples_written": 0, "examples_skipped_existing": 0}
    for _, result in distributed.map_units(bake_units.bake_shard, units, runner=args.runner, workers=args.workers,
                                           beam_args=tuple(args.beam_option), progress=False):
        for key in counts:
            counts[key] += result[key]
    return counts


def _load(path: str | None, step: int | None, kind: str) -> tokenizer.TrainedCodec | None:
    if not path:
        return None
    try:
        codec = tokenizer.load_codec(path, step)
    except (FileNotFoundError, ValueError) as error:
        raise UserError(f"--{kind}-codec: {error}") from error
    if codec.kind != kind:
        raise UserError(f"--{kind}-codec points at an {codec.kind} codec")
    return codec


if __name__ == "__main__":
    sys.exit(main_with_errors(main))
