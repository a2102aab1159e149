"""Metric writers: TensorBoard when TensorFlow is importable, JSON lines always.

clu's metric_writers package imports TensorFlow when imported, and accelerator
hosts may have none; so the train core never imports it. The writer made here
has clu's interface (write_scalars / write_hparams / flush / close): clu's
default writer (TensorBoard summaries + log lines) where TensorFlow exists,
plus — everywhere — `metrics.jsonl`, one JSON object per write, which tools and
tests read without TensorFlow.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from absl import logging

METRICS_FILE = "metrics.jsonl"


def hide_accelerators_from_tensorflow() -> None:
    """Keeps an imported TensorFlow off the GPUs/TPUs that JAX owns (a no-op when it is not imported)."""
    if "tensorflow" not in sys.modules:
        return
    try:
        tf = sys.modules["tensorflow"]
        tf.config.set_visible_devices([], "GPU")
        tf.config.set_visible_devices([], "TPU")
    except Exception as error:  # noqa: BLE001 — devices already initialised, or no such device type
        logging.info("could not hide accelerators from TensorFlow: %s", error)


class JsonLinesWriter:
    """Appends `{"step": …, name: value, …}` lines to <logdir>/metrics.jsonl; logs them if asked."""

    def __init__(self, logdir: str | os.PathLike, *, log: bool = True):
        os.makedirs(logdir, exist_ok=True)
        self.path = os.path.join(os.fspath(logdir), METRICS_FILE)
        self.log = log
        self._file = open(self.path, "a")  # noqa: SIM115 — kept open across writes, closed in close()

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")

    def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
        values = {name: float(value) for name, value in scalars.items()}
        self._write({"step": int(step), "time": time.time(), **values})
        if self.log:
            logging.info("[%d] %s", step, ", ".join(f"{name}={value:.6g}" for name, value in values.items()))

    def write_hparams(self, hparams: Mapping[str, Any]) -> None:
        self._write({"hparams": {name: _jsonable(value) for name, value in hparams.items()}})

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class MultiWriter:
    """Forwards every call to several writers."""

    def __init__(self, writers: Sequence[Any]):
        self.writers = list(writers)

    def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
        for writer in self.writers:
            writer.write_scalars(step, scalars)

    def write_hparams(self, hparams: Mapping[str, Any]) -> None:
        for writer in self.writers:
            writer.write_hparams(hparams)

    def flush(self) -> None:
        for writer in self.writers:
            writer.flush()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (bool, int, float, str, type(None))) else str(value)


def tensorflow_available() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


def create_default_writer(logdir: str | os.PathLike, *, just_logging: bool = False, tensorboard: bool = True):
    """clu's default writer + JSON lines when TensorFlow is importable and wanted, else JSON lines + log.

    `just_logging` (non-zero hosts) writes no files at all, only log lines.
    """
    if just_logging:
        return _LoggingOnly()
    if tensorboard and tensorflow_available():
        from clu import metric_writers as clu_writers  # imports TensorFlow

        hide_accelerators_from_tensorflow()
        clu_writer = clu_writers.create_default_writer(os.fspath(logdir), asynchronous=False)
        return MultiWriter([clu_writer, JsonLinesWriter(logdir, log=False)])
    return JsonLinesWriter(logdir)


class _LoggingOnly(MultiWriter):
    def __init__(self):
        super().__init__([])

    def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
        logging.info("[%d] %s", step, ", ".join(f"{name}={float(v):.6g}" for name, v in scalars.items()))
