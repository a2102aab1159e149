"""What every entry point shares (train, codecs.train, and eval / export as they come), T5X style.

Gin + absl flags (`--gin_file`, `--gin.NAME=VALUE`, `--gin_search_paths`, the multi-host flags),
the run directory with its config files, the mesh, metric writer and checkpointer, the resume
step, the loop with periodic and final checkpoints, and SIGTERM (preemption) handling.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import itertools
import json
import logging as std_logging
import os
import re
import signal
import sys
import time
import tokenize
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import gin
import jax
import numpy as np
from absl import app, flags, logging
from jax.experimental import multihost_utils

from mt_music.errors import EXIT_USER_ERROR, TRACEBACK_VARIABLE, UserError, check_output_dir, one_line
from mt_music.training import checkpoints, divergence, gin_paths, metric_writers, partitioning

SCHEDULE_FILE = "schedule.json"


class DataSource(Protocol):
    def batches(self, batch_size: int, start_step: int, shard_index: int,
                num_shards: int) -> Iterator[dict[str, np.ndarray]]: ...


_ACTIVE: list[StopSignal] = []  # the handler entry points install before start-up (see `run`)


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
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _ACTIVE.remove(self)
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def should_stop(self, step: int, *, now: bool = False) -> bool:
        """One host: at once. Several: every `check_every` steps (or `now`), if any host got the signal."""
        if jax.process_count() == 1:
            return self.received
        if step % self.check_every and not now:
            return False
        return bool(np.any(multihost_utils.process_allgather(np.int32(self.received))))


@contextlib.contextmanager
def stop_signal(check_every: int) -> Iterator[StopSignal]:
    """The entry point's handler if it installed one (a signal during start-up is kept), else a new one."""
    if _ACTIVE:
        _ACTIVE[-1].check_every = check_every
        yield _ACTIVE[-1]
    else:
        with StopSignal(check_every) as stop:
            yield stop


def write_text(path: str, text: str) -> None:
    if jax.process_index() == 0:
        with open(path, "w") as f:
            f.write(text)


@dataclasses.dataclass
class Run:
    """What every trainer sets up before building its state (see `start_run`); `resume` then picks the step."""

    model_dir: str
    partitioner: partitioning.Partitioner
    checkpointer: checkpoints.Checkpointer
    data_source: DataSource
    batch_size: int
    tensorboard: bool
    first_batch: dict[str, np.ndarray]  # this host's rows; its shapes size the model
    batch_shapes: dict[str, tuple[int, ...]]  # global shapes
    start_step: int = 0  # set by `resume`: 0, or the step of the newest good checkpoint
    writer: Any = None  # set by `resume`
    batches: Iterator[dict[str, np.ndarray]] | None = None  # from step 0; `resume` moves it to start_step

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc) -> None:
        """Closes the checkpointer also when start-up fails (orbax's threads otherwise outlive the error)."""
        self.checkpointer.close()

    def resume(self, abstract_state: Any, init: Callable[[], Any], *, num_steps: int, schedule_steps: int) -> Any:
        """The newest good checkpoint's state (falling back over damaged steps) or `init()`; then the
        metric writer and this host's batches from that step on. `schedule_steps`: the optimizer's
        total_steps, which a resume must keep (`check_schedule`)."""
        latest = self.checkpointer.latest_step() or 0
        check_schedule(self.model_dir, schedule_steps, resuming=latest > 0)
        if latest >= num_steps:
            raise UserError(f"nothing to do: the run in {self.model_dir} is already at step {latest} and "
                            f"num_steps (TRAIN_STEPS) is {num_steps}; to train further raise TRAIN_STEPS and keep "
                            "the schedule's total_steps (see `python -m mt_music.train --help`)")
        restored = self.checkpointer.restore_newest_good(abstract_state)
        state, self.start_step = restored if restored else (init(), 0)
        self.writer = metric_writers.create_default_writer(self.model_dir, just_logging=jax.process_index() > 0,
                                                           tensorboard=self.tensorboard, resume_step=self.start_step)
        if self.start_step:  # the batches from step 0 (the first one already read) are not needed
            shard_index, num_shards = self.partitioner.data_layout(self.batch_size)
            self.batches = self.data_source.batches(batch_size=self.batch_size, start_step=self.start_step,
                                                    shard_index=shard_index, num_shards=num_shards)
        return state


def check_count(value: Any, setting: str) -> None:
    """A gin setting that must be a whole number ≥ 1 (gin passes whatever the user wrote)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UserError(f"{setting} must be a whole number ≥ 1, got {value!r}")


def check_schedule(model_dir: str, total_steps: int, resuming: bool) -> None:
    """Records the schedule length of a new run; refuses a resume that would change it.

    The learning rate of the steps already taken depends on `total_steps`: extending a finished run
    keeps it, and raises `num_steps` only (the steps past the schedule's end train at its final rate).
    """
    path = os.path.join(model_dir, SCHEDULE_FILE)
    if not resuming or not os.path.exists(path):
        write_text(path, json.dumps({"total_steps": int(total_steps)}) + "\n")
        return
    with open(path) as f:
        recorded = int(json.load(f)["total_steps"])
    if recorded != int(total_steps):
        raise UserError(
            f"{model_dir} was trained with a learning-rate schedule of total_steps={recorded}; this resume asks "
            f"for total_steps={total_steps}, which would change the rate of the steps already taken. To extend "
            f"the run, keep the schedule and raise the step count: --gin.trainer.OptimizerConfig.total_steps={recorded} "
            "--gin.TRAIN_STEPS=<more>; or give a new MODEL_DIR")


def start_run(model_dir: str, data_source: DataSource, *, batch_size: int, mesh: partitioning.MeshConfig,
              tensorboard: bool, checkpoint_every: int, keep_checkpoints: int | None,
              async_checkpoints: bool) -> Run:
    """Run directory + config.gin, mesh, checkpointer and the first batch (its shapes size the model)."""
    check_count(batch_size, "BATCH_SIZE (train.train.batch_size)")
    check_output_dir(model_dir, "MODEL_DIR")
    partitioner = partitioning.Partitioner(partitioning.make_mesh(mesh))
    logging.info("mesh %s on %d devices (%s)", dict(partitioner.mesh.shape), jax.device_count(),
                 jax.devices()[0].device_kind)
    shard_index, num_shards = partitioner.data_layout(batch_size)
    checkpointer = checkpoints.Checkpointer(os.path.join(model_dir, "checkpoints"), save_every=checkpoint_every,
                                            keep=keep_checkpoints, async_save=async_checkpoints)
    write_text(os.path.join(model_dir, "config.gin"), gin.config_str())
    from_zero = iter(data_source.batches(batch_size=batch_size, start_step=0, shard_index=shard_index,
                                         num_shards=num_shards))
    first = next(from_zero, None)
    if first is None:
        raise UserError("the data source yields no batch: check train.train.data_source (0 usable examples?)")
    shapes = {name: (batch_size,) + value.shape[1:] for name, value in first.items()}
    return Run(model_dir, partitioner, checkpointer, data_source, batch_size, tensorboard, first, shapes,
               batches=itertools.chain([first], from_zero))


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
        with stop_signal(stop_check_every) as stop:
            if stop.should_stop(step, now=True):
                logging.warning("stopped by signal during start-up, before step %d; nothing new to save", step + 1)
                return state
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
        if not found:
            raise UserError(f"--gin_file: {name} not found in the working directory, --gin_search_paths or "
                            f"mt_music's gin/ ({', '.join(map(str, gin_paths.gin_search_paths()))})")
        resolved.append(os.path.abspath(found[0]))
    try:
        gin.parse_config_files_and_bindings(resolved, bindings, finalize_config=True)
    except tokenize.TokenError as error:
        raise UserError(f"gin: a file or binding ends inside brackets or a string ({error.args[0]}); "
                        "close every bracket and quote") from error
    except SyntaxError as error:
        raise UserError(f"gin: {one_line(error)} (strings need quotes: --gin.MODEL_DIR=\"'/tmp/run'\")") from error
    except Exception as error:  # noqa: BLE001 - whatever gin raises while parsing is a mistake in the config
        raise UserError(f"gin: {one_line(error)}") from error
    check_macros_used(bindings)


def check_macros_used(bindings: list[str]) -> None:
    """A command-line macro that no config refers to is a misspelling (gin itself accepts it silently)."""
    config = gin.config_str()
    used = set(re.findall(r"%([A-Za-z_][\w.]*)", config))
    for binding in bindings:
        name = binding.split("=", 1)[0].strip()
        if name and "." not in name and "/" not in name and name not in used:
            close = difflib.get_close_matches(name, sorted(used), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise UserError(f"gin: the binding {name}=… sets a macro that no config uses{hint}")


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
    A user error (mt_music.errors), a gin mistake, `user_errors` and a diverged run become one
    `error:` line on stderr and exit status 2 instead of a traceback (MT_MUSIC_TRACEBACK=1 shows it).
    """
    try:
        if len(argv) > 1:
            raise UserError(f"unexpected arguments: {' '.join(argv[1:])} (flags start with --; see --help)")
        FLAGS = flags.FLAGS
        quiet_library_logs()
        metric_writers.hide_accelerators_from_tensorflow()
        partitioning.initialize_distributed(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id,
                                            auto=FLAGS.multihost_auto)
        if not FLAGS.gin_file:
            raise UserError(f"give at least one --gin_file (e.g. {example_gin_file}); see --help")
        parse_gin(FLAGS.gin_file, FLAGS.gin_bindings, FLAGS.gin_search_paths)
        function = gin.get_configurable(entry_point())
        try:
            function()
        except RuntimeError as error:  # gin's own message for an unset %gin.REQUIRED
            if "Required bindings" not in str(error):
                raise
            raise UserError(f"gin: {_without_gin_context(error)}; bind them in a --gin_file or with "
                            "--gin.NAME=VALUE") from error
    except (UserError, divergence.DivergenceError, *user_errors) as error:
        _exit_with_error(error)
    except OSError as error:
        if not error.filename:
            raise
        _exit_with_error(error)
    logging.info("done")


def _without_gin_context(error: BaseException) -> str:
    """The message without the "In call to configurable …" lines gin appends."""
    return " ".join(str(error).split("\n  In call to configurable")[0].split())


def _exit_with_error(error: BaseException) -> None:
    if os.environ.get(TRACEBACK_VARIABLE):
        raise error
    message = _without_gin_context(error) if not isinstance(error, OSError) else one_line(error)
    logging.error("%s", message)
    print(f"error: {message}", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)


def run(main_fn: Callable[[list[str]], None]) -> None:
    """`run_app` with the entry-point flags defined (and listed by `--help`)."""
    define_flags()
    for name in ENTRY_POINT_FLAGS:  # absl's --help shows the main module's key flags only
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])
    with StopSignal():  # from here on SIGTERM / Ctrl-C during start-up stop the run cleanly too
        run_app(main_fn)


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing with a bad flag as one `error:` line (absl prints two and exits 1)."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        print(f"error: {one_line(error)} (see {os.path.basename(argv[0])} --help)", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)


def run_app(main_fn: Callable[[list[str]], None]) -> None:
    """`app.run` with `--gin.NAME=VALUE` rewritten and `--help` a success (absl ends it with status 1)."""
    try:
        app.run(main_fn, argv=rewrite_gin_args(sys.argv), flags_parser=_parse_flags)
    except SystemExit as stop:
        if stop.code == 1 and HELP_FLAGS & set(sys.argv[1:]):
            sys.exit(0)
        raise
