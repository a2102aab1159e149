r"""Times train steps and decoding of any gin model config on synthetic batches.

    python tools/benchmark.py --gin_file=models/base.gin --batch_size=24 \
        --encoder_length=1024 --decoder_length=1024

Prints step time, tokens/s (a token = one K-slot frame, encoder + decoder,
padding included — what the FLOP count covers), TFLOP/s per device and MFU
from the analytic FLOP count (mt_music.model.flops), then decoding frames/s, and a
final JSON line with every figure.

Defaults: the published batch of 24 (docs/design.md §5.3) with 1024 encoder and 1024
decoder frames — about 12 s of audio (86 frames/s), or an image system of
8 token rows × 128 columns; the longest inputs (26×150 image grids, 1750 audio
frames) cost more. Sequences are filled to full length. Decoding is timed with a
forced audio prefix as long as the output, so every example runs all
`--decode_length` steps with the full K-slot sub-decoder loop (the cost per step
equals free sampling at temperature 1.0).

The published model's figures on one GPU (docs/design.md §4.5): training at the longest audio
lengths with fused attention, then image→audio decoding of 20 s of audio for one system:

    python tools/benchmark.py --gin_file=models/base.gin --batch_size=24 --encoder_length=1750 \
        --decoder_length=1751 --gin.network.TransformerConfig.attention="'cudnn'" \
        --gin.network.TransformerConfig.scan_layers=True --gin.network.TransformerConfig.remat_policy="'minimal'" \
        --decode_batch_size=1 --decode_encoder_length=3900 --decode_length=1750 --profile_dir=/tmp/profile

MFU needs the device's peak: taken from its kind (H100, A100, TPU …),
`--peak_flops`, or on CPU measured as the throughput of a large fp32 matmul.
Memory: XLA's buffer plan of the compiled train step (arguments + outputs + temporaries, per device)
and, on accelerators, the allocator's peak. `--profile_dir` adds profiler traces of a few train steps and
of one decoding call and prints the ops that took the most time in each. `--compile_only` compiles the
train step without initialising anything and prints its memory plan and FLOPs: whether a config fits,
checked on any host. The speed options are gin bindings, e.g.
`--gin_bindings=network.TransformerConfig.attention="cudnn"`, `...scan_layers=True`, `...remat_policy="minimal"`,
`...param_dtype="bfloat16"` with `trainer.OptimizerConfig.master_weights=True`.
Needs only jax, flax, optax, orbax, gin-config and absl (no TensorFlow).
"""

from __future__ import annotations

import json
import os
import sys
import time

import gin
import jax
import jax.numpy as jnp
import numpy as np
from absl import flags, logging

from mt_music.data import synthetic
from mt_music.errors import UserError, check_positive, main_with_errors
from mt_music.model import flops, models
from mt_music.training import launch, partitioning, profiling, trainer
from mt_music.vocabulary import Modality

flags.DEFINE_multi_string("gin_file", ["models/base.gin"], "Model gin file(s), e.g. models/tiny.gin.")
flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings NAME=VALUE; `--gin.NAME=VALUE` is the same.")
flags.DEFINE_integer("batch_size", 24, "Global batch size.")
flags.DEFINE_integer("encoder_length", 1024, "Encoder frames per example.")
flags.DEFINE_integer("decoder_length", 1024, "Decoder frames per example.")
flags.DEFINE_integer("steps", 10, "Timed train steps (after one compile + warm-up step).")
flags.DEFINE_integer("num_microbatches", 1, "Gradient-accumulation microbatches per step.")
flags.DEFINE_list("mesh", ["-1", "1", "1"], "Mesh data,fsdp,model (-1: the rest of the devices).")
flags.DEFINE_float("peak_flops", None, "Peak FLOP/s per device for MFU (default: by device kind; CPU: measured).")
flags.DEFINE_integer("decode_length", 256, "Frames to decode per example (0 skips decoding).")
flags.DEFINE_integer("decode_batch_size", None, "Decoding batch size (default: --batch_size).")
flags.DEFINE_integer("decode_encoder_length", None, "Encoder frames of the decoded examples (default: "
                     "--encoder_length; an image system is up to 26 x 150 = 3900).")
flags.DEFINE_integer("decode_steps", 2, "Timed decoding calls (after one compile call).")
flags.DEFINE_string("profile_dir", None, "Also trace --profile_steps train steps (train/) and one decoding call "
                    "(decode/) there and print the costliest ops of each.")
flags.DEFINE_integer("profile_steps", 2, "Train steps in the profiler trace.")
flags.DEFINE_bool("compile_only", False, "Only compile the train step (no init, no steps) and print its memory plan "
                  "and FLOPs: whether a config fits, checked on any host.")


def measured_matmul_flops(size: int = 2048, repeats: int = 3) -> float:
    """FLOP/s of a large fp32 matmul on the default device: a practical CPU peak."""
    a = jnp.ones((size, size), jnp.float32)
    matmul = jax.jit(lambda x: x @ x)
    matmul(a).block_until_ready()
    start = time.perf_counter()
    for _ in range(repeats):
        matmul(a).block_until_ready()
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def build_model() -> models.EncoderDecoderModel:
    launch.parse_gin(flags.FLAGS.gin_file, flags.FLAGS.gin_bindings, [])
    return gin.query_parameter("%MODEL").scoped_configurable_fn()


def make_trainer(model, batch_size: int, le: int, ld: int) -> tuple[trainer.Trainer, dict]:
    """The trainer on the --mesh and one synthetic global batch of the asked lengths."""
    FLAGS = flags.FLAGS
    mesh = partitioning.make_mesh(partitioning.MeshConfig(*(int(x) for x in FLAGS.mesh)))
    partitioner = partitioning.Partitioner(mesh)
    data = synthetic.SyntheticTask(encoder_length=le, decoder_length=ld, min_symbols=10**9,
                                        alphabet_size=64, vocabulary=model.vocabulary)
    shard, shards = partitioner.data_layout(batch_size)
    local = data.batch(0, batch_size, shard, shards)
    shapes = {name: (batch_size,) + value.shape[1:] for name, value in local.items()}
    train_lib = trainer.Trainer(model, partitioner, shapes, num_microbatches=FLAGS.num_microbatches)
    return train_lib, train_lib.global_batch(local, batch_size)


def compile_training(model, batch_size: int, le: int, ld: int) -> dict:
    """Compile the train step against the abstract state (nothing is initialised): its memory plan and XLA's
    FLOP count, so a CPU host can check whether a config fits an accelerator before renting one."""
    train_lib, batch = make_trainer(model, batch_size, le, ld)
    start = time.perf_counter()
    compiled = compiled_train_step(train_lib, train_lib.abstract_state, batch)
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return {"compile_s": time.perf_counter() - start, "train_step_memory_bytes": profiling.compiled_memory(compiled),
            "xla_step_tflops": float((cost or {}).get("flops", 0.0)) / 1e12,
            "step_tflops": flops.train_step_flops(model.module.config, batch_size, le, ld) / 1e12}


def time_training(model, batch_size: int, le: int, ld: int) -> dict[str, float]:
    FLAGS = flags.FLAGS
    train_lib, batch = make_trainer(model, batch_size, le, ld)
    state = train_lib.create_state(0)
    start = time.perf_counter()
    state, metrics = train_lib.train_step(state, batch)
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - start
    state, metrics = train_lib.train_step(state, batch)  # warm-up
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    for _ in range(FLAGS.steps):
        state, metrics = train_lib.train_step(state, batch)
    jax.block_until_ready(metrics)
    step_s = (time.perf_counter() - start) / FLAGS.steps
    memory = profiling.compiled_memory(compiled_train_step(train_lib, state, batch))
    top = []
    if FLAGS.profile_dir:
        directory = os.path.join(FLAGS.profile_dir, "train")
        with profiling.trace(directory):
            for _ in range(FLAGS.profile_steps):
                state, metrics = train_lib.train_step(state, batch)
            jax.block_until_ready(metrics)
        top = profiling.top_costs(directory)
    step_flops = flops.train_step_flops(model.module.config, batch_size, le, ld)
    n = jax.device_count()
    return {"compile_and_first_step_s": compile_s, "step_s": step_s,
            "tokens_per_s": batch_size * (le + ld) / step_s, "tflops_per_device": step_flops / step_s / n / 1e12,
            "step_tflops": step_flops / 1e12, "loss": float(metrics["loss"]), "_state": state,
            "train_step_memory_bytes": memory, "device_peak_bytes": profiling.device_peak_bytes(), "top_ops": top}


def compiled_train_step(train_lib, state, batch):
    """The train step as XLA compiles it for these (concrete or abstract) arguments: the timed steps' program."""
    with train_lib.partitioner.activate():
        return train_lib._train_step.lower(state, batch).compile()


def time_decoding(model, params, batch_size: int, le: int, length: int) -> dict[str, float]:
    data = synthetic.SyntheticTask(("midi->audio",), encoder_length=le, decoder_length=length + 1,
                                        min_symbols=10**9, alphabet_size=64, vocabulary=model.vocabulary)
    batch = {name: jnp.asarray(value) for name, value in data.batch(0, batch_size).items()
             if name in models.PREDICT_FEATURES}
    codes = np.random.default_rng(0).integers(0, 1024, (batch_size, length, model.vocabulary.num_slots))
    batch["decoder_prefix_tokens"] = jnp.asarray(np.stack([model.vocabulary.encode_audio(c) for c in codes]))
    assert np.all(np.asarray(batch["decoder_modality"]) == Modality.AUDIO)

    def run(seed: int):
        frames, aux = model.predict_batch_with_aux(params, batch, jax.random.key(seed), max_decode_length=length,
                                                   temperature=1.0)
        return jax.block_until_ready(aux["lengths"])

    start = time.perf_counter()
    run(0)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    for seed in range(flags.FLAGS.decode_steps):
        lengths = run(seed + 1)
    seconds = (time.perf_counter() - start) / flags.FLAGS.decode_steps
    assert int(np.min(lengths)) == length, lengths
    top = []
    if flags.FLAGS.profile_dir:
        directory = os.path.join(flags.FLAGS.profile_dir, "decode")
        with profiling.trace(directory):
            run(0)
        top = profiling.top_costs(directory)
    return {"decode_compile_s": compile_s, "decode_s": seconds, "decode_frames_per_s": batch_size * length / seconds,
            "decode_steps_per_s": length / seconds, "decode_top_ops": top}


def print_memory(memory: dict[str, int], peak_bytes: int | None) -> None:
    if memory:
        print(f"memory: train step needs {memory['peak'] / 2**30:.3f} GiB per device (arguments "
              f"{memory['argument'] / 2**30:.3f}, temporaries {memory['temp'] / 2**30:.3f} GiB)"
              + (f"; allocator peak {peak_bytes / 2**30:.3f} GiB" if peak_bytes else ""))


def print_top_ops(ops: list[dict]) -> None:
    for op in ops:
        print(f"  {100 * op['share']:5.1f}%  {op['ms']:9.2f} ms  {op['op'][:100]}")


def check_flags() -> None:
    """Sizes that must be positive, before anything compiles."""
    FLAGS = flags.FLAGS
    for name in ("batch_size", "encoder_length", "decoder_length", "steps", "num_microbatches", "decode_steps",
                 "profile_steps"):
        check_positive(FLAGS[name].value, f"--{name}")
    check_positive(FLAGS.decode_length, "--decode_length", allow_zero=True)
    for name in ("decode_batch_size", "decode_encoder_length"):
        if FLAGS[name].value is not None:
            check_positive(FLAGS[name].value, f"--{name}")
    if FLAGS.peak_flops is not None:
        check_positive(FLAGS.peak_flops, "--peak_flops")
    try:
        mesh = [int(x) for x in FLAGS.mesh]
    except ValueError:
        raise UserError(f"--mesh takes three integers data,fsdp,model (e.g. -1,1,1), got {','.join(FLAGS.mesh)}") from None
    if len(mesh) != 3 or any(x == 0 or x < -1 for x in mesh):
        raise UserError(f"--mesh takes three sizes data,fsdp,model, each ≥ 1 or -1 (e.g. -1,1,1), got {','.join(FLAGS.mesh)}")


def main(argv: list[str]) -> None:
    del argv
    check_flags()
    FLAGS = flags.FLAGS
    model = build_model()
    config = model.module.config
    b, le, ld = FLAGS.batch_size, FLAGS.encoder_length, FLAGS.decoder_length
    device = jax.devices()[0]
    peak = trainer.peak_flops_per_device(device, FLAGS.peak_flops)
    peak_source = "flag" if FLAGS.peak_flops else "device kind"
    if peak is None:
        peak, peak_source = measured_matmul_flops(), "measured fp32 matmul"
    print(f"{device.device_kind} × {jax.device_count()}; model {FLAGS.gin_file} (d={config.emb_dim}, "
          f"{config.num_encoder_layers}+{config.num_decoder_layers} layers, {config.dtype}); "
          f"batch {b}, encoder {le}, decoder {ld} frames; peak {peak / 1e12:.3f} TFLOP/s per device ({peak_source})")

    if FLAGS.compile_only:
        result = compile_training(model, b, le, ld)
        print(f"compiled train step in {result['compile_s']:.1f} s: {result['step_tflops']:.4g} TFLOP analytic "
              f"({result['xla_step_tflops']:.4g} TFLOP counted by XLA"
              + (", which counts a scanned stack's layer once)" if config.scan_layers else ")"))
        print_memory(result["train_step_memory_bytes"], None)
        result.update(device_kind=device.device_kind, num_devices=jax.device_count(), batch_size=b,
                      encoder_length=le, decoder_length=ld)
        print(json.dumps(result))
        return
    result = time_training(model, b, le, ld)
    state = result.pop("_state")
    result["mfu"] = flops.mfu(result["step_tflops"] * 1e12, result["step_s"], jax.device_count(), peak)
    print(f"train: {result['step_s'] * 1e3:.1f} ms/step, {result['tokens_per_s']:.0f} tokens/s, "
          f"{result['tflops_per_device']:.3f} TFLOP/s/device, MFU {100 * result['mfu']:.1f}% "
          f"(compile + first step {result['compile_and_first_step_s']:.1f} s)")
    print_memory(result["train_step_memory_bytes"], result["device_peak_bytes"])
    print_top_ops(result["top_ops"])
    if FLAGS.decode_length > 0:
        decode = time_decoding(model, state.params, FLAGS.decode_batch_size or b, FLAGS.decode_encoder_length or le,
                               FLAGS.decode_length)
        result.update(decode)
        print(f"decode: {decode['decode_frames_per_s']:.0f} frames/s ({decode['decode_steps_per_s']:.1f} steps/s "
              f"at batch {FLAGS.decode_batch_size or b}: {FLAGS.decode_length} frames in {decode['decode_s']:.2f} s)")
        print_top_ops(decode["decode_top_ops"])
    result.update(device_kind=device.device_kind, num_devices=jax.device_count(), peak_flops=peak,
                  peak_source=peak_source, batch_size=b, encoder_length=le, decoder_length=ld,
                  tensorflow_imported="tensorflow" in sys.modules)
    print(json.dumps(result))


if __name__ == "__main__":
    logging.set_verbosity(logging.WARNING)
    launch.quiet_library_logs()
    launch.run_app(lambda argv: main_with_errors(main, argv))
