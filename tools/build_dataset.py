r"""Builds a published dataset from the folder you downloaded into a TFDS dataset mt_music reads.

    python tools/build_dataset.py maestro/v3 --manual-dir /data/maestro-v3.0.0
    python tools/build_dataset.py olimpic/synthetic --manual-dir /data/olimpic-1.0-synthetic.2024-02-12
    python tools/build_dataset.py --list          # every dataset, its configs and the layout it expects
    # then bake its codec tokens like the corpus's:
    python tools/bake_codec_tokens.py --audio-codec assets/codecs/audio_cpu --corpus maestro/v3 --out data/tokens/maestro_v3

Nothing is downloaded: `--manual-dir` is the dataset as its authors publish it (`--list` shows each
layout). Items are prepared in parallel (`--workers`) into per-item files under
`<data-dir>/mt_music_prepared/`, so a stopped build resumes (`--runner DirectRunner` or any Beam runner
runs the same preparation as an Apache Beam pipeline, with the same output); items that fail (a damaged file, a page
without a detectable staff) are listed with their reasons in the summary and skipped, and tried again
with `--retry-failed`. The summary (items and hours per split, failures, listed-but-missing files) is
printed and kept as `summary.json` next to the prepared items.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from mt_music.data import distributed
from mt_music.errors import ArgumentParser, UserError, main_with_errors


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", nargs="?", help="NAME/CONFIG, e.g. maestro/v3 (a bare NAME: its first config)")
    parser.add_argument("--manual-dir", help="the folder you downloaded, in the dataset's published layout")
    parser.add_argument("--data-dir", help="TFDS data dir (default: $MT_MUSIC_DATA_DIR or ~/.cache/mt_music/datasets)")
    parser.add_argument("--workers", type=int, help="preparation processes (default: all cores)")
    parser.add_argument("--retry-failed", action="store_true", help="prepare the items that failed last time again")
    distributed.add_runner_flags(parser)
    parser.add_argument("--list", action="store_true", help="list the datasets and their expected layouts")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not args.list and not (args.dataset and args.manual_dir):
        parser.error("give DATASET and --manual-dir (or --list)")
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def list_datasets() -> str:
    from mt_music.datasets import registry

    lines = []
    for name in registry.NAMES:
        layout = registry.layout(name)
        lines.append(f"{name} ({layout.level}: {', '.join(layout.modalities)}) configs: {', '.join(layout.configs)}")
        lines.append(f"    {layout.homepage}")
        lines.append("    expects:")
        lines += [f"      {line}" for line in layout.expected_layout.splitlines()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.list:
        print(list_datasets())
        return 0
    from mt_music.datasets import prepare, registry

    layout, config = registry.parse(args.dataset)
    layout.items(args.manual_dir, config)  # a wrong folder fails here, before TensorFlow loads or TFDS writes
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up notes would bury the summary
    from mt_music.datasets import builders
    builder = builders.builder(f"{layout.name}/{config}", args.data_dir, builders.BuildOptions(
        workers=args.workers, retry_failed=args.retry_failed, progress=not args.no_progress, runner=args.runner,
        beam_args=tuple(args.beam_option)))
    if builder.is_prepared():
        raise UserError(f"{layout.name}/{config} is already built in {builder.data_dir}; delete that folder to "
                        "build it again")
    if args.no_progress:
        import tensorflow_datasets as tfds

        tfds.disable_progress_bar()
    builders.prepare_builder(builder, args.manual_dir)
    summary = builder.prepare_result.summary
    print(prepare.format_summary(summary))
    print(json.dumps({split: info.num_examples for split, info in builder.info.splits.items()}),
          f"examples → {builder.data_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main_with_errors(main))
