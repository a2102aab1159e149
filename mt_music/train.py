r"""Trains the translation model: `python -m mt_music.train --gin_file=… [--gin.NAME=VALUE …]`.

Everything is configured through gin, T5X style: `--gin_file` (repeatable) names
config files, found on `--gin_search_paths` and in mt_music's own gin/ folder;
`--gin.NAME=VALUE` (or `--gin_bindings=NAME=VALUE`) overrides single bindings.
`gin/train.gin` holds the published optimizer and schedule; a run file adds a
model and a data source, e.g. the CPU smoke run:

    python -m mt_music.train --gin_file=runs/tiny_synthetic.gin \
        --gin.MODEL_DIR="'/tmp/tiny'" --gin.TRAIN_STEPS=50 --gin.BATCH_SIZE=16

Other common bindings: `--gin.partitioning.MeshConfig.fsdp=8` (the mesh is
data × fsdp × model; data takes the devices left over),
`--gin.train.train.num_microbatches=4` (gradient accumulation),
`--gin.train.train.peak_flops=…` (per device, for MFU on unknown devices).

MODEL_DIR receives checkpoints (`checkpoints/<step>/`), `metrics.jsonl` (and
TensorBoard events where TensorFlow is installed), `config.gin` (as parsed) and
`operative_config.gin` (the values used). A run restarted on the same MODEL_DIR
resumes from the latest checkpoint, on whatever mesh it is given now. SIGTERM
(preemption) saves a checkpoint at the current step and exits with status 0.

Multi-host: pass --coordinator_address=HOST:PORT --num_processes=N
--process_id=I on every host (or --multihost_auto on Cloud TPU / SLURM / MPI).

The data source is any object with
`batches(batch_size, start_step, shard_index, num_shards)` yielding this
host's rows of the global batches of steps start_step, start_step + 1, … as
numpy dicts of the model's features (see synthetic_data.SyntheticTask).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging as std_logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import gin
import jax
import numpy as np
from absl import app, flags, logging
from jax.experimental import multihost_utils

from mt_music import checkpoints, gin_paths, metric_writers, models, partitioning, trainer
from mt_music.train_state import TrainState


class DataSource(Protocol):
    def batches(self, batch_size: int, start_step: int, shard_index: int,
                num_shards: int) -> Iterator[dict[str, np.ndarray]]: ...


class StopSignal:
    """Turns SIGTERM into a flag the loop polls; all hosts agree on it at sync points."""

    def __init__(self, check_every: int = 10):
        self.check_every = check_every
        self.received = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        logging.warning("received signal %d: stopping after this step with a checkpoint", signum)
        self.received = True

    def __enter__(self) -> StopSignal:
        with contextlib.suppress(ValueError):  # not the main thread: no handler, never stops
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def should_stop(self, step: int) -> bool:
        """One host: at once. Several: every `check_every` steps, if any host got the signal."""
        if jax.process_count() == 1:
            return self.received
        if step % self.check_every:
            return False
        return bool(np.any(multihost_utils.process_allgather(np.int32(self.received))))


def _write_text(path: str, text: str) -> None:
    if jax.process_index() == 0:
        with open(path, "w") as f:
            f.write(text)


@dataclasses.dataclass
class Run:
    """What every trainer sets up before building its state (see `start_run`)."""

    partitioner: partitioning.Partitioner
    writer: Any
    checkpointer: checkpoints.Checkpointer
    start_step: int  # 0, or the latest checkpoint's step (resume)
    first_batch: dict[str, np.ndarray]  # this host's rows; its shapes size the model
    batches: Iterator[dict[str, np.ndarray]]  # from the first batch on
    batch_shapes: dict[str, tuple[int, ...]]  # global shapes


def start_run(model_dir: str, data_source: DataSource, *, batch_size: int, mesh: partitioning.MeshConfig,
              tensorboard: bool, checkpoint_every: int, keep_checkpoints: int | None,
              async_checkpoints: bool) -> Run:
    """Run directory + config.gin, mesh, metric writer, checkpointer, resume step and this host's batches."""
    os.makedirs(model_dir, exist_ok=True)
    _write_text(os.path.join(model_dir, "config.gin"), gin.config_str())
    partitioner = partitioning.Partitioner(partitioning.make_mesh(mesh))
    logging.info("mesh %s on %d devices (%s)", dict(partitioner.mesh.shape), jax.device_count(),
                 jax.devices()[0].device_kind)
    writer = metric_writers.create_default_writer(model_dir, just_logging=jax.process_index() > 0,
                                                  tensorboard=tensorboard)
    checkpointer = checkpoints.Checkpointer(os.path.join(model_dir, "checkpoints"), save_every=checkpoint_every,
                                            keep=keep_checkpoints, async_save=async_checkpoints)
    start_step = checkpointer.latest_step() or 0
    shard_index, num_shards = partitioner.data_layout(batch_size)
    batches = data_source.batches(batch_size=batch_size, start_step=start_step, shard_index=shard_index,
                                  num_shards=num_shards)
    first = next(batches)
    shapes = {name: (batch_size,) + value.shape[1:] for name, value in first.items()}
    return Run(partitioner, writer, checkpointer, start_step, first, itertools.chain([first], batches), shapes)


def run_loop(step_fn: Callable[[Any, dict], tuple[Any, dict]], batches: Iterator[dict], state: Any, *,
             start_step: int, num_steps: int, checkpointer: checkpoints.Checkpointer, model_dir: str,
             after_step: Callable[[int, Any, dict, bool], None], stop_check_every: int = 10) -> Any:
    """The loop every trainer shares: steps to `num_steps` or SIGTERM, periodic and final checkpoints.

    `step_fn(state, local_batch)` → (state, metrics); `after_step(step, state, metrics, first)` reports
    (`first`: the step that compiled). operative_config.gin is written once the first step ran.
    """
    step = start_step
    with StopSignal(stop_check_every) as stop:
        for local_batch in batches:
            if step >= num_steps:
                break
            started = time.perf_counter()
            state, metrics = step_fn(state, local_batch)
            step += 1
            first = step == start_step + 1
            if first:
                jax.block_until_ready(metrics)
                logging.info("first step (with compilation) took %.1f s", time.perf_counter() - started)
                _write_text(os.path.join(model_dir, "operative_config.gin"), gin.operative_config_str())
            after_step(step, state, metrics, first)
            if stop.should_stop(step):
                checkpointer.save(state, step, force=True)
                logging.warning("stopped by signal at step %d; checkpoint saved", step)
                break
            checkpointer.save(state, step)
    if step > start_step:
        checkpointer.save(state, step, force=True)
    checkpointer.close()
    return state


def train(*, model: models.EncoderDecoderModel, data_source: DataSource, model_dir: str, batch_size: int,
          num_steps: int, optimizer: trainer.OptimizerConfig = trainer.OptimizerConfig(),
          mesh: partitioning.MeshConfig = partitioning.MeshConfig(), num_microbatches: int = 1, seed: int = 0,
          log_every: int = 100, checkpoint_every: int = 1000, keep_checkpoints: int | None = 3,
          async_checkpoints: bool = True, peak_flops: float | None = None, tensorboard: bool = True,
          stop_check_every: int = 10) -> TrainState:
    """Trains (or resumes) up to `num_steps` steps of global batch `batch_size`; returns the final state."""
    run = start_run(model_dir, data_source, batch_size=batch_size, mesh=mesh, tensorboard=tensorboard,
                    checkpoint_every=checkpoint_every, keep_checkpoints=keep_checkpoints,
                    async_checkpoints=async_checkpoints)
    partitioner, writer, checkpointer, start_step = run.partitioner, run.writer, run.checkpointer, run.start_step
    input_shapes = run.batch_shapes
    train_lib = trainer.Trainer(model, partitioner, input_shapes, optimizer, num_microbatches=num_microbatches)
    if start_step:
        state = checkpointer.restore(train_lib.abstract_state, start_step)
    else:
        state = train_lib.create_state(seed)
    num_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(state.params))
    logging.info("%d parameters; starting at step %d of %d", num_params, start_step, num_steps)
    writer.write_hparams({"batch_size": batch_size, "num_steps": num_steps, "num_microbatches": num_microbatches,
                          "num_params": num_params, "mesh": str(dict(partitioner.mesh.shape)),
                          **{f"optimizer.{k}": v for k, v in vars(optimizer).items()}})

    config = model.module.config
    reporter = trainer.MetricsReporter(
        writer, config, batch_size=batch_size, encoder_length=input_shapes["encoder_input_tokens"][1],
        decoder_length=input_shapes["decoder_input_tokens"][1], num_devices=jax.device_count(),
        peak_flops=trainer.peak_flops_per_device(override=peak_flops))
    def after_step(step: int, state: TrainState, metrics: dict, first: bool) -> None:
        if first:
            reporter.start(step)
        if step % log_every == 0 or step == num_steps:
            reporter.report(step, metrics)

    state = run_loop(lambda state, batch: train_lib.train_step(state, train_lib.global_batch(batch, batch_size)),
                     run.batches, state, start_step=start_step, num_steps=num_steps,
                     checkpointer=checkpointer, model_dir=model_dir, after_step=after_step,
                     stop_check_every=stop_check_every)
    writer.flush()
    writer.close()
    return state


# ------------------------------------------------------------------ command line


def _define_flags() -> None:
    flags.DEFINE_multi_string("gin_file", None, "Gin config file(s), e.g. runs/tiny_synthetic.gin; repeatable.")
    flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings NAME=VALUE; `--gin.NAME=VALUE` is the same.")
    flags.DEFINE_list("gin_search_paths", [], "Directories searched for gin files before mt_music's gin/.")
    flags.DEFINE_string("coordinator_address", None, "Multi-host: HOST:PORT of process 0's coordinator.")
    flags.DEFINE_integer("num_processes", None, "Multi-host: number of processes.")
    flags.DEFINE_integer("process_id", None, "Multi-host: this process's index, 0..num_processes-1.")
    flags.DEFINE_bool("multihost_auto", False, "Multi-host: let JAX detect the cluster (Cloud TPU, SLURM, MPI).")


def rewrite_gin_args(argv: list[str]) -> list[str]:
    """`--gin.NAME=VALUE` → `--gin_bindings=NAME=VALUE` (absl knows no dotted flags)."""
    return [f"--gin_bindings={arg[len('--gin.'):]}" if arg.startswith("--gin.") else arg for arg in argv]


def parse_gin(gin_files: list[str], bindings: list[str], search_paths: list[str]) -> None:
    """Parses files and bindings; top-level files are resolved to absolute paths first.

    (gin's own lookup tries `runs/x.gin` as a Python package `runs` and crashes when
    the working directory holds a `runs/` folder, as a checkout does.)
    """
    paths = list(search_paths) + [str(p) for p in gin_paths.gin_search_paths()]
    for path in paths:
        gin.add_config_file_search_path(path)
    resolved = []
    for name in gin_files:
        found = [os.path.join(d, name) for d in ["", *paths] if os.path.isfile(os.path.join(d, name))]
        resolved.append(os.path.abspath(found[0]) if found else name)
    gin.parse_config_files_and_bindings(resolved, bindings, finalize_config=True)


def quiet_library_logs() -> None:
    """Drops orbax's INFO lines (it logs every array it writes) and gin's false "Path not found" errors.

    (gin probes each include as a Python package before the search paths and logs
    an ERROR for every miss, though the file is then found.)
    """
    def keep(record) -> bool:
        if record.pathname.endswith("gin/resource_reader.py"):
            return False
        return record.levelno >= std_logging.WARNING or "/orbax/" not in record.pathname
    logging.get_absl_handler().addFilter(keep)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    FLAGS = flags.FLAGS
    quiet_library_logs()
    metric_writers.hide_accelerators_from_tensorflow()
    partitioning.initialize_distributed(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id,
                                        auto=FLAGS.multihost_auto)
    if not FLAGS.gin_file:
        raise app.UsageError("give at least one --gin_file (e.g. runs/tiny_synthetic.gin); see --help")
    parse_gin(FLAGS.gin_file, FLAGS.gin_bindings, FLAGS.gin_search_paths)
    # gin configured `mt_music.train.train`; under `python -m` this file is `__main__`, a different module.
    from mt_music import train as train_module

    train_fn: Any = gin.get_configurable(train_module.train)
    train_fn()
    logging.info("done")


if __name__ == "__main__":
    _define_flags()
    app.run(main, argv=rewrite_gin_args(sys.argv))
