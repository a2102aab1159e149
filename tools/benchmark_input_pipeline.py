r"""Input-pipeline throughput: converted training examples per second on this machine, per path.

    python tools/benchmark_input_pipeline.py --tokens data/tokens/small --examples 200

Paths (each ends in the model's batch rows, `mt_music.data.features`):
    seqio       a SeqIO task's tf.data pipeline (the baked TFRecords) + the K-slot feature converter
    tfrecord    the curriculum mixture (`TranslationMixture`) over records read with TensorFlow
    npz         the same mixture over the materialized NumPy store (no TensorFlow at all)
                (`tools/materialize_tokens.py` writes it; the path is skipped with a note when absent)

Each figure sits next to what the model would consume: training examples per second of a gin
model (default `base`) at `--mfu` of one device's peak (default 50 % of an H100), from the
analytic FLOP count at the experiment's lengths. A ratio ≥ 1 means one host core keeps up.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

from mt_music.errors import ArgumentParser, UserError, check_positive, main_with_errors

PATHS = ("seqio", "tfrecord", "npz")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", default="data/tokens/small", help="a bake's directory (default data/tokens/small)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--npz", help="the materialized store of that split (default: data/store/<tokens name>/<split>)")
    parser.add_argument("--examples", type=int, default=200, help="examples timed per path (default 200)")
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    parser.add_argument("--model_gin", default="models/base.gin", help="model whose consumption is the reference")
    parser.add_argument("--encoder_length", type=int, default=3902)
    parser.add_argument("--decoder_length", type=int, default=3902)
    parser.add_argument("--device", default="h100", help="device kind for the peak (mt_music.model.flops)")
    parser.add_argument("--mfu", type=float, default=0.5)
    args = parser.parse_args(argv)
    check_positive(args.examples, "--examples")
    if not 0 < args.mfu <= 1:
        parser.error("--mfu must lie in (0, 1]")
    return args


def consumed_examples_per_second(model_gin: str, encoder_length: int, decoder_length: int, device: str,
                                 mfu: float) -> float:
    import gin

    from mt_music.model import flops
    from mt_music.training import launch

    if device not in flops.PEAK_BF16_FLOPS:
        raise UserError(f"--device {device!r}: known kinds are {', '.join(flops.PEAK_BF16_FLOPS)}")
    launch.parse_gin([model_gin], [], [])
    config = gin.query_parameter("%MODEL").scoped_configurable_fn().module.config
    gin.clear_config()
    per_example = flops.train_step_flops(config, 1, encoder_length, decoder_length)
    return mfu * flops.PEAK_BF16_FLOPS[device] / per_example


def _mixture(pattern: str):
    from mt_music.data import directions, token_mixture

    # the published lengths and limits, every direction at full weight (step_scale 0: no ramp)
    return token_mixture.from_token_records(pattern=pattern, encoder_length=3902, decoder_length=3902,
                                            limits=directions.LengthLimits(), step_scale=0.0)


def time_mixture(pattern: str, examples: int) -> dict:
    started = time.perf_counter()
    mixture = _mixture(pattern)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    for index in range(examples):
        mixture.example(index // 24, index % 24)
    return {"load_s": load_s, "examples_per_s": examples / (time.perf_counter() - started)}


def time_seqio(tokens: pathlib.Path, split: str, examples: int) -> dict:
    import os

    import seqio

    from mt_music.data import directions, features
    from mt_music.vocabulary import UnifiedVocabulary

    os.environ["MT_MUSIC_TOKENS_DIR"] = str(tokens.parent)
    import mt_music.tasks  # noqa: F401  registers the tasks

    vocabulary = UnifiedVocabulary()
    names = [f"mt_music_corpus_{tokens.name}_{d.name}" for d in directions.ALL]
    started, count = time.perf_counter(), 0
    per_task = max(1, examples // len(names))
    for task_id, name in enumerate(names):
        direction = directions.ALL[task_id]
        dataset = seqio.get_mixture_or_task(name).get_dataset(sequence_length=None, split=split, shuffle=False)
        for example in dataset.take(per_task).as_numpy_iterator():
            features.convert(vocabulary, source=example["inputs"], source_positions=example["inputs_positions"],
                             source_modality=direction.source, target=example["targets"],
                             target_positions=example["targets_positions"], target_modality=direction.target,
                             encoder_length=3902, decoder_length=3902, task_id=task_id)
            count += 1
    return {"examples_per_s": count / (time.perf_counter() - started), "examples": count}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    tokens = pathlib.Path(args.tokens)
    tfrecords = tokens / args.split / "tokens-*.tfrecord"
    if not list(tokens.glob(f"{args.split}/tokens-*.tfrecord")):
        raise UserError(f"--tokens: no token records under {tokens / args.split}; bake them first (`make tokens`)")
    npz_dir = pathlib.Path(args.npz) if args.npz else pathlib.Path("data/store") / tokens.name / args.split
    consumed = consumed_examples_per_second(args.model_gin, args.encoder_length, args.decoder_length, args.device,
                                            args.mfu)
    print(f"{args.model_gin} at {100 * args.mfu:g} % MFU of one {args.device} consumes {consumed:.1f} examples/s "
          f"({args.encoder_length} / {args.decoder_length} frames)")
    results = {}
    for path in args.paths:
        if path == "npz" and not list(npz_dir.glob("tokens-*.npz")):
            print(f"npz: skipped, no materialized store in {npz_dir} (tools/materialize_tokens.py {tokens} --out "
                  f"{npz_dir.parent})")
            continue
        if path == "seqio":
            result = time_seqio(tokens, args.split, args.examples)
        else:
            result = time_mixture(str(tfrecords) if path == "tfrecord" else str(npz_dir / "tokens-*.npz"),
                                  args.examples)
        result["ratio_to_consumption"] = result["examples_per_s"] / consumed
        results[path] = result
        load = f", loading {result['load_s']:.1f} s" if "load_s" in result else ""
        print(f"{path:9s} {result['examples_per_s']:8.1f} examples/s on one process "
              f"= {result['ratio_to_consumption']:.2f} × consumption{load}")
    print(json.dumps({"consumed_examples_per_s": consumed, **results}))
    return 0


if __name__ == "__main__":
    sys.exit(main_with_errors(main))
