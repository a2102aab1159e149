#!/usr/bin/env python
"""Builds the embedded corpus (music21's scores → system images, LMX, notes, audio) as a TFDS dataset.

    python tools/build_corpus.py                          # the small default build (quickstart)
    python tools/build_corpus.py --config full            # everything, two renderings per piece
    python tools/build_corpus.py --pieces 20 --composers bach palestrina --seed 3
    python tools/build_corpus.py --piece-ids bach/bwv66.6 "essenFolksong/han1#3"
    python tools/build_corpus.py --shards-only            # render shards only (no TensorFlow)

Rendering runs in parallel (--workers, default all cores) into shard files that a re-run skips
(resumable; --retry-failed re-attempts failed pieces), then TFDS writes its records. `--runner
DirectRunner` (or DataflowRunner, FlinkRunner, SparkRunner with --beam-option=…) renders the same
shards as an Apache Beam pipeline. The summary
(pieces, systems, hours, token-length percentiles, storage, failures with reasons) is printed and
saved next to the shards and the dataset. Read the result with
    import mt_music.corpus.tfds_builder as corpus_tfds
    corpus_tfds.builder("small", data_dir).as_dataset(split="train")
or, for custom selections, tfds.builder_from_directory(<printed dataset dir>).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pathlib
import re
import shutil
import sys

from mt_music.corpus import build
from mt_music.data import distributed
from mt_music.errors import ArgumentParser, UserError, check_output_dir, check_positive, main_with_errors

CONFIGS = ("small", "tiny", "full")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--config", choices=CONFIGS, default="small", help="named build (default: small)")
    parser.add_argument("--pieces", type=int, metavar="N", help="a seeded sample of N pieces")
    parser.add_argument("--composers", nargs="+", metavar="NAME",
                        help="collections to take pieces from (a corpus folder name selects exactly that "
                             "collection: bach, palestrina, essenFolksong, monteverdi, trecento, ...; any "
                             "other text matches composer names, e.g. Mozart)")
    parser.add_argument("--piece-ids", nargs="+", metavar="ID", help="exact music21 corpus pieces")
    parser.add_argument("--seed", type=int, help="selection and augmentation seed (default 0)")
    parser.add_argument("--variants", type=int, help="renderings per piece (variant 0 is canonical)")
    parser.add_argument("--max-piece-seconds", type=float,
                        help="skip (and list) longer pieces; 0 = no limit (default: 240 for small/custom)")
    parser.add_argument("--workers", type=int, default=None, help="rendering processes (default: all cores)")
    parser.add_argument("--data-dir", type=pathlib.Path, default=None,
                        help=f"dataset root (default: ${build.DATA_DIR_ENV} or {build.default_data_dir()})")
    parser.add_argument("--level", choices=("system", "piece", "both"), default="both",
                        help="TFDS records to write: system examples, piece records or both (default)")
    parser.add_argument("--retry-failed", action="store_true", help="re-attempt pieces that failed before")
    parser.add_argument("--shards-only", action="store_true", help="render the shards, skip TFDS")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    distributed.add_runner_flags(parser)
    return parser.parse_args(argv)


def spec_from_args(args: argparse.Namespace) -> build.CorpusSpec:
    spec = build.NAMED_SPECS[args.config]
    custom = {}
    if args.pieces is not None:
        custom["count"] = args.pieces
    if args.composers:
        custom["composers"] = tuple(args.composers)
    if args.piece_ids:  # exactly these pieces: no sample, no collection filter
        custom.update(piece_ids=tuple(args.piece_ids), count=None, composers=())
    if args.seed is not None:
        custom["seed"] = args.seed
    if args.variants is not None:
        custom["variants"] = args.variants
    if args.max_piece_seconds is not None:
        custom["max_seconds_per_piece"] = args.max_piece_seconds or None
    if not custom:
        return spec
    if args.pieces is not None and not args.composers and args.config == "small":
        custom.setdefault("composers", ())  # --pieces alone samples the whole corpus
    spec = dataclasses.replace(spec, **custom)
    return dataclasses.replace(spec, name=custom_name(spec))


def custom_name(spec: build.CorpusSpec) -> str:
    parts = [f"n{spec.count}" if spec.count is not None else "all"]
    if spec.piece_ids:
        parts.append("ids" + hashlib.sha1("\n".join(spec.piece_ids).encode()).hexdigest()[:6])
    if spec.composers:
        joined = "_".join(re.sub(r"[^a-z0-9]+", "", c.lower()) for c in spec.composers)
        parts.append(joined if len(joined) <= 40 else "c" + hashlib.sha1(joined.encode()).hexdigest()[:6])
    parts.append(f"s{spec.seed}")
    parts.append(f"v{spec.variants}")
    if spec.max_seconds_per_piece is not None:
        parts.append(f"max{int(spec.max_seconds_per_piece)}")
    return "custom_" + "_".join(parts)


def check_args(args: argparse.Namespace) -> None:
    """Counts that must be positive, before anything is rendered."""
    for setting, value in (("--workers", args.workers), ("--pieces", args.pieces), ("--variants", args.variants)):
        if value is not None:
            check_positive(value, setting)
    if args.max_piece_seconds is not None:
        check_positive(args.max_piece_seconds, "--max-piece-seconds", allow_zero=True)


def checked_spec(args: argparse.Namespace) -> build.CorpusSpec:
    """The spec, with its selection proved non-empty (unknown piece ids and composers fail here)."""
    spec = spec_from_args(args)
    try:
        selected = spec.select()
    except KeyError as error:
        raise UserError(f"--piece-ids: {error.args[0]} (ids look like bach/bwv66.6 or "
                        "essenFolksong/han1#3)") from None
    if not selected:
        raise UserError(f"--composers {' '.join(spec.composers)} selects no piece of music21's corpus; "
                        "give a collection folder (bach, palestrina, essenFolksong, ...) or a composer name")
    return spec


def remove_aborted_writes(data_dir: pathlib.Path) -> None:
    """TFDS leaves `incomplete.*` folders when a write is killed; a new write starts clean."""
    from mt_music.corpus import tfds_builder as corpus_tfds

    for leftover in corpus_tfds.incomplete_writes(data_dir):
        print(f"warning: removing {leftover}, left by an aborted TFDS write", file=sys.stderr)
        shutil.rmtree(leftover, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    return main_with_errors(_main, argv)


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    check_args(args)
    spec = checked_spec(args)
    data_dir = check_output_dir(args.data_dir or build.default_data_dir(),
                                "--data-dir" if args.data_dir else f"the data folder (${build.DATA_DIR_ENV} or default)")
    if args.shards_only:
        result = build.build(spec, data_dir, workers=args.workers, retry_failed=args.retry_failed,
                             progress=not args.no_progress, runner=args.runner, beam_args=tuple(args.beam_option))
        print(f"shards: {result.shard_dir}")
        if not result.summary["systems"]:
            print("error: no piece could be rendered (the summary above lists why)", file=sys.stderr)
            return 1
        return 0
    # Render first, before TensorFlow is imported, so the worker pool can fork (cheaper than
    # spawning); the TFDS builder then finds every shard done and only writes its records.
    build.build(spec, data_dir, workers=args.workers, retry_failed=args.retry_failed,
                progress=not args.no_progress, runner=args.runner, beam_args=tuple(args.beam_option))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mt_music.corpus import tfds_builder as corpus_tfds

    remove_aborted_writes(data_dir)
    levels = ("system", "piece") if args.level == "both" else (args.level,)
    # everything is rendered (or failed) by now: the builder only collects the shards
    options = corpus_tfds.BuildOptions(workers=args.workers, retry_failed=False, progress=False)
    summary = None
    for level in levels:
        config = corpus_tfds.make_config(spec, level)
        if spec is build.NAMED_SPECS.get(spec.name):
            config = config.name  # a registered config: TFDS wants it by name
        builder = corpus_tfds.builder(config, data_dir, options)
        corpus_tfds.prepare(builder)
        if builder.build_result is not None:
            summary = builder.build_result.summary
        if summary is not None:
            pathlib.Path(builder.data_dir, "corpus_summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
        counts = {split: info.num_examples for split, info in builder.info.splits.items()}
        print(f"{builder.builder_config.name}: {counts} in {builder.data_dir}")
    if summary is None:
        print("(dataset already prepared; its summary is corpus_summary.json in the dataset folder)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
