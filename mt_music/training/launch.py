"""What every entry point shares (train, codecs.train, and eval / export as they come), T5X style.

Gin + absl flags (`--gin_file`, `--gin.NAME=VALUE`, `--gin_search_paths`, the multi-host flags),
the run directory with its config files, the mesh, metric writer and checkpointer, the resume
step, the loop with periodic and final checkpoints, and SIGTERM (preemption) handling.
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

from mt_music.training import checkpoints, divergence, gin_paths, metric_writers, partitioning


class DataSource(Protocol):
    def batches(self, batch_size: int, start_step: int, shard_index: int,
                num_shards: int) -> Iterator[dict[str, np.ndarray]]: ...


class StopSignal:
    """Turns SIGTERM and SIGINT (Ctrl-C) into a flag the loop polls; all hosts agree on it at sync points.

    A second Ctrl-C interrupts at once (the first one restores Python's own handler).
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, check_every: int = 10):
        self.check_every = check_every
        self.received = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum, frame) -> None:
        logging.warning("received %s: stopping after this step with a checkpoint", signal.Signals(signum).name)
        self.received = True
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, self._previous.get(signal.SIGINT, signal.default_int_handler))

    def __enter__(self) -> StopSignal:
        with contextlib.suppress(ValueError):  # not the main thread: no handler, never stops
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def should_stop(self, step: int) -> bool:
        """One host: at once. Several: every `check_every` steps, if any host got the signal."""
        if jax.process_count() == 1:
            return self.received
        if step % self.check_every:
            return False
        return bool(np.any(multihost_utils.process_allgather(np.int32(self.received))))


def write_text(path: str, text: str) -> None:
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
    write_text(os.path.join(model_dir, "config.gin"), gin.config_str())
    partitioner = partitioning.Partitioner(partitioning.make_mesh(mesh))
    logging.info("mesh %s on %d devices (%s)", dict(partitioner.mesh.shape), jax.device_count(),
                 jax.devices()[0].device_kind)
    checkpointer = checkpoints.Checkpointer(os.path.join(model_dir, "checkpoints"), save_every=checkpoint_every,
                                            keep=keep_checkpoints, async_save=async_checkpoints)
    start_step = checkpointer.latest_step() or 0
    writer = metric_writers.create_default_writer(model_dir, just_logging=jax.process_index() > 0,
                                                  tensorboard=tensorboard, resume_step=start_step)
    shard_index, num_shards = partitioner.data_layout(batch_size)
    batches = data_source.batches(batch_size=batch_size, start_step=start_step, shard_index=shard_index,
                                  num_shards=num_shards)
    first = next(batches)
    shapes = {name: (batch_size,) + value.shape[1:] for name, value in first.items()}
    return Run(partitioner, writer, checkpointer, start_step, first, itertools.chain([first], batches), shapes)


def run_loop(step_fn: Callable[[Any, dict], tuple[Any, dict]], batches: Iterator[dict], state: Any, *,
             start_step: int, num_steps: int, checkpointer: checkpoints.Checkpointer, model_dir: str,
             after_step: Callable[[int, Any, dict, bool], None], stop_check_every: int = 10,
             max_consecutive_skipped_steps: int | None = 20, skipped_metric: str = "skipped_steps") -> Any:
    """The loop every trainer shares: steps to `num_steps` or a stop signal, periodic and final checkpoints.

    `step_fn(state, local_batch)` → (state, metrics); `after_step(step, state, metrics, first)` reports
    (`first`: the step that compiled). operative_config.gin is written once the first step ran.
    `metrics[skipped_metric]` (the run's count of skipped non-finite steps) feeds the divergence
    policy: a warning per skipped step, `DivergenceError` after `max_consecutive_skipped_steps` in a
    row (nothing is saved then; the last checkpoint holds the last good state).
    """
    step = start_step
    guard = divergence.DivergenceGuard(max_consecutive_skipped_steps, int(state.skipped_steps), stop_check_every)
    try:
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
                    write_text(os.path.join(model_dir, "operative_config.gin"), gin.operative_config_str())
                after_step(step, state, metrics, first)
                guard.record(step, metrics[skipped_metric])
                if stop.should_stop(step):
                    guard.check()
                    checkpointer.save(state, step, force=True)
                    logging.warning("stopped by signal at step %d; checkpoint saved", step)
                    break
                checkpointer.save(state, step)
        guard.check()
        if step > start_step:
            checkpointer.save(state, step, force=True)
    finally:
        checkpointer.close()
    return state


HELP_FLAGS = {"--help", "-h", "-?", "--helpshort", "--helpfull", "--helpxml"}
ENTRY_POINT_FLAGS = ("gin_file", "gin_bindings", "gin_search_paths", "coordinator_address", "num_processes",
                     "process_id", "multihost_auto")


def define_flags() -> None:
    flags.DEFINE_multi_string("gin_file", None, "Gin config file(s), e.g. experiments/tiny_synthetic.gin; repeatable.")
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




def main(argv: list[str], entry_point: Callable[[], Callable[[], Any]], example_gin_file: str,
         user_errors: tuple[type[Exception], ...] = ()) -> None:
    """The body of every gin entry point's `main`: flags → logs → multi-host → gin → call.

    `entry_point()` returns the gin-configured function (imported by its module name: under
    `python -m` the entry point's own file is `__main__`, which gin did not configure).
    `user_errors` and a diverged run become one `error:` line on stderr and exit status 2 instead of
    a traceback.
    """
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    FLAGS = flags.FLAGS
    quiet_library_logs()
    metric_writers.hide_accelerators_from_tensorflow()
    partitioning.initialize_distributed(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id,
                                        auto=FLAGS.multihost_auto)
    if not FLAGS.gin_file:
        raise app.UsageError(f"give at least one --gin_file (e.g. {example_gin_file}); see --help")
    parse_gin(FLAGS.gin_file, FLAGS.gin_bindings, FLAGS.gin_search_paths)
    try:
        gin.get_configurable(entry_point())()
    except (divergence.DivergenceError, *user_errors) as error:
        logging.error("%s", error)
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    logging.info("done")


def run(main_fn: Callable[[list[str]], None]) -> None:
    """`run_app` with the entry-point flags defined (and listed by `--help`)."""
    define_flags()
    for name in ENTRY_POINT_FLAGS:  # absl's --help shows the main module's key flags only
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])
    run_app(main_fn)


def run_app(main_fn: Callable[[list[str]], None]) -> None:
    """`app.run` with `--gin.NAME=VALUE` rewritten and `--help` a success (absl ends it with status 1)."""
    try:
        app.run(main_fn, argv=rewrite_gin_args(sys.argv))
    except SystemExit as stop:
        if stop.code == 1 and HELP_FLAGS & set(sys.argv[1:]):
            sys.exit(0)
        raise
