"""One parallel map for every build step: a local process pool by default, any Apache Beam runner by flag.

The corpus build, the dataset preparation and the score-video pipeline all have the same shape: a list of
independent work units (a piece, an item, a video), a top-level function that does one unit and writes
its own output file atomically, and a small JSON-able result per unit for the summary. `map_units` runs
that function over the units:

- `runner="local"`: a spawn process pool on this machine (`workers`), results in unit order;
- `runner="DirectRunner"` (Beam's Python runner, FnApiRunner, on this machine with `workers` processes;
  never Prism, which Beam would download) or any other Beam runner
  (`DataflowRunner`, `FlinkRunner`, `SparkRunner`, …) with its pipeline options in `beam_args`
  (`--project=… --region=… --temp_location=gs://…`): `Create(units) | Reshuffle | Map(fn)`, the results
  written as text by the workers into `results_dir` and read back by the driver.

The output is the unit function's own, so a Beam run writes byte for byte what a local run writes. On a
cluster, the paths the units write to (`--data-dir`, `--out`) and `results_dir` must be a filesystem every
worker mounts (NFS, Filestore, a FUSE-mounted bucket): the unit functions write with ordinary file I/O.
"""

from __future__ import annotations

import base64
import concurrent.futures
import multiprocessing
import os
import pickle
import tempfile
from collections.abc import Callable, Iterator, Sequence

from tqdm import tqdm

from mt_music.errors import UserError

LOCAL = "local"
BEAM_RUNNERS = ("DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner", "PortableRunner")
RUNNERS = (LOCAL,) + BEAM_RUNNERS


def add_runner_flags(parser) -> None:
    """`--runner` and `--beam-option`, the same in every command that builds data."""
    parser.add_argument("--runner", default=LOCAL, choices=RUNNERS,
                        help=f"{LOCAL} (default): a process pool here; or an Apache Beam runner "
                             "(DirectRunner: Beam on this machine with --workers processes)")
    parser.add_argument("--beam-option", action="append", default=[], metavar="OPTION",
                        help="a Beam pipeline option, repeatable: --beam-option=--project=P "
                             "--beam-option=--temp_location=gs://… (outputs must be on storage every worker mounts)")


def check_runner(runner: str) -> str:
    if runner not in RUNNERS:
        raise UserError(f"--runner {runner!r}: use {LOCAL} (a process pool) or a Beam runner: {', '.join(BEAM_RUNNERS)}")
    return runner


def map_units(fn: Callable, units: Sequence, *, runner: str = LOCAL, workers: int | None = None,
              beam_args: Sequence[str] = (), results_dir: str | None = None, progress: bool = True,
              description: str = "work", unit: str = "unit") -> Iterator[tuple[int, object]]:
    """(index, fn(units[index])) for every unit; local results as they finish, Beam ones at the end."""
    check_runner(runner)
    if not units:
        return
    workers = max(1, min(workers or os.cpu_count() or 1, len(units)))
    if runner == LOCAL:
        yield from _local(fn, units, workers, progress, description, unit)
    else:
        yield from _beam(fn, units, runner, workers, tuple(beam_args), results_dir)


def _local(fn, units, workers, progress, description, unit):
    bar = tqdm(total=len(units), desc=description, unit=unit, disable=not progress)
    if workers == 1:
        for index, work in enumerate(units):
            yield index, fn(work)
            bar.update(1)
    else:
        # spawn: callers hold TensorFlow's or JAX's threads, which a forked child would inherit half-locked
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(fn, work): index for index, work in enumerate(units)}
            for future in concurrent.futures.as_completed(futures):
                yield futures[future], future.result()
                bar.update(1)
    bar.close()


class _Apply:
    """The Beam map step: runs `fn` on (index, unit) and encodes (index, result) as one text line."""

    def __init__(self, fn: Callable):
        self.fn = fn

    def __call__(self, indexed):
        index, work = indexed
        return base64.b64encode(pickle.dumps((index, self.fn(work)))).decode("ascii")


def pipeline_options(runner: str, workers: int, beam_args: Sequence[str]):
    import logging

    from apache_beam.options.pipeline_options import PipelineOptions

    logging.getLogger("apache_beam").setLevel(logging.WARNING)  # its INFO lines would bury the progress
    # DirectRunner means Beam's Python runner here: Beam's own DirectRunner would first try Prism, a Go binary
    # it downloads, and nothing of mt_music downloads at run time
    args = [f"--runner={'FnApiRunner' if runner == 'DirectRunner' else runner}", *beam_args]
    if not any(a.startswith("--default_sdk_harness_log_level") for a in beam_args):
        args.append("--default_sdk_harness_log_level=WARNING")
    if runner == "DirectRunner" and not any(a.startswith("--direct_num_workers") for a in beam_args):
        args += [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
    return PipelineOptions(args)


def _beam(fn, units, runner, workers, beam_args, results_dir):
    try:
        import apache_beam as beam
    except ImportError:
        raise UserError(f"--runner {runner} needs Apache Beam: pip install apache-beam (make setup installs it)") from None
    with tempfile.TemporaryDirectory(prefix="mt_music_beam_", dir=results_dir) as scratch:
        prefix = os.path.join(scratch, "results")
        with beam.Pipeline(options=pipeline_options(runner, workers, beam_args)) as pipeline:
            _ = (pipeline
                 | "units" >> beam.Create(list(enumerate(units)))
                 | "spread" >> beam.Reshuffle()  # one unit per bundle: the runner balances them over workers
                 | "run" >> beam.Map(_Apply(fn))
                 | "results" >> beam.io.WriteToText(prefix))
        results = []
        for name in sorted(os.listdir(scratch)):
            if name.startswith("results"):
                with open(os.path.join(scratch, name), encoding="ascii") as handle:
                    results += [pickle.loads(base64.b64decode(line)) for line in handle if line.strip()]
    yield from sorted(results, key=lambda pair: pair[0])
