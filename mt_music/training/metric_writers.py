"""Metric writers: TensorBoard when TensorFlow is importable, JSON lines always.

clu's metric_writers package imports TensorFlow when imported, and accelerator
hosts may have none; so the train core never imports it. The writer made here
has clu's interface (write_scalars / write_hparams / flush / close): clu's
default writer (TensorBoard summaries + log lines) where TensorFlow exists,
plus — everywhere — `metrics.jsonl`, one JSON object per write, which tools and
tests read without TensorFlow. Images and audio (codec reconstructions) go to
TensorBoard and, everywhere, to `samples/<name>_<step>_<i>.png|.wav`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from absl import logging

METRICS_FILE = "metrics.jsonl"
SAMPLES_DIR = "samples"


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
    """Appends `{"step": …, name: value, …}` lines to <logdir>/metrics.jsonl; logs them if asked.

    Every line reaches the file when it is written (line buffering), so a killed run keeps what it
    logged. `resume_step`: a run resumed from that checkpoint step first drops the lines of later
    steps — the steps it is about to run again — so every step appears once.
    """

    def __init__(self, logdir: str | os.PathLike, *, log: bool = True, resume_step: int | None = None):
        os.makedirs(logdir, exist_ok=True)
        self.path = os.path.join(os.fspath(logdir), METRICS_FILE)
        self.log = log
        if resume_step is not None:
            _drop_steps_after(self.path, resume_step)
        self._file = open(self.path, "a", buffering=1)  # noqa: SIM115 — kept open across writes, closed in close()

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")

    def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
        values = {name: float(value) for name, value in scalars.items()}
        self._write({"step": int(step), "time": time.time(), **values})
        if self.log:
            logging.info("[%d] %s", step, ", ".join(f"{name}={value:.6g}" for name, value in values.items()))

    def write_hparams(self, hparams: Mapping[str, Any]) -> None:
        self._write({"hparams": {name: _jsonable(value) for name, value in hparams.items()}})

    def write_images(self, step: int, images: Mapping[str, Any]) -> None:
        """[N, H, W, 1|3] uint8, or float in [0, 1], → samples/<name>_<step>_<i>.png."""
        from PIL import Image

        for name, batch in images.items():
            batch = np.asarray(batch)
            if batch.dtype != np.uint8:
                batch = np.round(np.clip(batch, 0.0, 1.0) * 255).astype(np.uint8)
            for i, image in enumerate(batch):
                Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(self._sample_path(name, step, i, "png"))

    def write_audios(self, step: int, audios: Mapping[str, Any], *, sample_rate: int) -> None:
        """[N, T, C] float in [-1, 1] → samples/<name>_<step>_<i>.wav (16-bit)."""
        import soundfile

        for name, batch in audios.items():
            for i, clip in enumerate(np.asarray(batch, np.float32)):
                soundfile.write(self._sample_path(name, step, i, "wav"), np.clip(clip, -1, 1), sample_rate,
                                subtype="PCM_16")

    def _sample_path(self, name: str, step: int, index: int, suffix: str) -> str:
        folder = os.path.join(os.path.dirname(self.path), SAMPLES_DIR)
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, f"{name.replace('/', '_')}_{step}_{index}.{suffix}")

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

    def write_images(self, step: int, images: Mapping[str, Any]) -> None:
        for writer in self.writers:
            writer.write_images(step, images)

    def write_audios(self, step: int, audios: Mapping[str, Any], *, sample_rate: int) -> None:
        for writer in self.writers:
            writer.write_audios(step, audios, sample_rate=sample_rate)

    def flush(self) -> None:
        for writer in self.writers:
            writer.flush()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


def _drop_steps_after(path: str, step: int) -> None:
    """Rewrites `path` (atomically) without the records of steps after `step`; a torn last line goes too."""
    if not os.path.exists(path):
        return
    kept, dropped = [], 0
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # the half-written line of a killed run
                dropped += 1
                continue
            if isinstance(record, dict) and record.get("step", step) > step:
                dropped += 1
                continue
            kept.append(line if line.endswith("\n") else line + "\n")
    if dropped:
        temporary = f"{path}.tmp"
        with open(temporary, "w") as f:
            f.writelines(kept)
        os.replace(temporary, path)
        logging.info("%s: dropped %d lines after step %d (they are run again)", path, dropped, step)


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (bool, int, float, str, type(None))) else str(value)


def tensorflow_available() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


def create_default_writer(logdir: str | os.PathLike, *, just_logging: bool = False, tensorboard: bool = True,
                          resume_step: int | None = None):
    """clu's default writer + JSON lines when TensorFlow is importable and wanted, else JSON lines + log.

    `just_logging` (non-zero hosts) writes no files at all, only log lines; `resume_step`: see
    `JsonLinesWriter`.
    """
    if just_logging:
        return _LoggingOnly()
    if tensorboard and tensorflow_available():
        from clu import metric_writers as clu_writers  # imports TensorFlow

        hide_accelerators_from_tensorflow()
        clu_writer = clu_writers.create_default_writer(os.fspath(logdir), asynchronous=False)
        return MultiWriter([clu_writer, JsonLinesWriter(logdir, log=False, resume_step=resume_step)])
    return JsonLinesWriter(logdir, resume_step=resume_step)


class _LoggingOnly(MultiWriter):
    def __init__(self):
        super().__init__([])

    def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
        logging.info("[%d] %s", step, ", ".join(f"{name}={float(v):.6g}" for name, v in scalars.items()))
