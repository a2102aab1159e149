r"""Times codec train steps and encoding on synthetic windows (no corpus, no TensorFlow).

    python tools/benchmark_codec.py --gin_file=codecs/audio_base.gin --batch_size=16
    python tools/benchmark_codec.py --gin_file=codecs/image_base.gin --batch_size=16 --window=256

Builds the codec the gin file configures (its CODEC), feeds random windows of the
gin's shape (audio: `--window` samples, default the config's clip; images: `--window`
px square crops), and prints the train step time, examples/s, audio seconds (or
megapixels) per second for training and for encoding, the parameter counts, and a
final JSON line with every figure. Needs jax, flax, optax, orbax, gin-config, absl.
"""

from __future__ import annotations

import json
import time

import gin
import jax
import numpy as np
from absl import flags

from mt_music.codecs import models
from mt_music.codecs.trainer import CODEC_OPTIMIZER, CodecTrainer
from mt_music.errors import UserError, check_positive, main_with_errors
from mt_music.training import launch, partitioning

flags.DEFINE_multi_string("gin_file", ["codecs/audio_tiny.gin"], "Codec gin file(s), e.g. codecs/audio_base.gin.")
flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings NAME=VALUE; `--gin.NAME=VALUE` is the same.")
flags.DEFINE_integer("batch_size", 16, "Global batch size.")
flags.DEFINE_integer("window", 0, "Audio samples or image side per example (0: 16384 samples / 256 px).")
flags.DEFINE_integer("steps", 10, "Timed train steps (after one compile + warm-up step).")


def _time(fn, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        out = fn()
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / steps


def main(argv: list[str]) -> None:
    del argv
    FLAGS = flags.FLAGS
    check_positive(FLAGS.batch_size, "--batch_size")
    check_positive(FLAGS.steps, "--steps")
    check_positive(FLAGS.window, "--window", allow_zero=True)
    launch.quiet_library_logs()
    launch.parse_gin(FLAGS.gin_file, FLAGS.gin_bindings + ["MODEL_DIR='unused'"], [])
    model: models.CodecModel = gin.query_parameter("%CODEC").scoped_configurable_fn()
    is_audio = model.feature == "audio"
    window = FLAGS.window or (16384 if is_audio else 256)
    shape = (FLAGS.batch_size, window, 1) if is_audio else (FLAGS.batch_size, window, window, 1)
    rng = np.random.default_rng(0)
    batch_np = {model.feature: np.clip(rng.normal(0, 0.3, shape), -1, 1).astype(np.float32)}
    try:
        model.check_batch(batch_np)
    except ValueError as error:  # e.g. an image side that is not a multiple of the patch size
        raise UserError(f"--window {window}: {error}") from None
    partitioner = partitioning.Partitioner(partitioning.make_mesh())
    codec_trainer = CodecTrainer(model, partitioner, {model.feature: shape}, CODEC_OPTIMIZER)
    state = codec_trainer.create_state(0)
    batch = codec_trainer.global_batch(batch_np, FLAGS.batch_size)
    holder = {"state": state}

    def step():
        holder["state"], metrics = codec_trainer.train_step(holder["state"], batch)
        return metrics

    started = time.perf_counter()
    jax.block_until_ready(step())
    compile_s = time.perf_counter() - started
    jax.block_until_ready(step())
    step_s = _time(step, FLAGS.steps)
    encode = jax.jit(lambda variables, x: model.encode(variables, x))
    x = batch[model.feature]
    jax.block_until_ready(encode(holder["state"].variables, x))
    encode_s = _time(lambda: encode(holder["state"].variables, x), FLAGS.steps)

    unit = window / model.config.sample_rate if is_audio else window * window / 1e6
    report = {
        "codec": model.feature, "device": jax.devices()[0].device_kind, "num_devices": jax.device_count(),
        "batch_size": FLAGS.batch_size, "window": window, "adversarial": model.adversarial,
        "params": sum(int(np.prod(p.shape)) for p in jax.tree.leaves(holder["state"].params)),
        "disc_params": sum(int(np.prod(p.shape)) for p in jax.tree.leaves(holder["state"].disc_params)),
        "compile_s": round(compile_s, 2), "step_s": step_s, "examples_per_s": FLAGS.batch_size / step_s,
        ("train_audio_s_per_s" if is_audio else "train_mpx_per_s"): FLAGS.batch_size * unit / step_s,
        ("encode_audio_s_per_s" if is_audio else "encode_mpx_per_s"): FLAGS.batch_size * unit / encode_s,
    }
    for name, value in report.items():
        print(f"{name:22s} {value:.4g}" if isinstance(value, float) else f"{name:22s} {value}")
    print(json.dumps(report))


if __name__ == "__main__":
    launch.run_app(lambda argv: main_with_errors(main, argv))
