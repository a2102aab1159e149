r"""Fits a CPU codec: `python -m mt_music.codecs.fit --gin_file=codecs/image_cpu.gin --gin.MODEL_DIR=…`.

The fitted codecs (docs/design.md §6.2.1: patch RVQ for score images, log-mel RVQ for audio)
need no accelerator: their codebooks are residual k-means over fixed features of the corpus,
fitted in about a minute on 2 cores. The run directory then holds `arrays.npz` and
`codec.json` (written last), which `mt_music.codecs.tokenizer.load_codec` reads like a trained
codec's directory, so the token bake, the evaluation and the tasks take either.

    python -m mt_music.codecs.fit --gin_file=codecs/image_cpu.gin --gin.MODEL_DIR="'runs/codecs/image_cpu'"
    python -m mt_music.codecs.fit --gin_file=codecs/audio_cpu.gin --gin.MODEL_DIR="'runs/codecs/audio_cpu'"
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from absl import logging

from mt_music.codecs import fitted, tokenizer
from mt_music.data import codec_windows as codec_data
from mt_music.errors import UserError, check_output_dir
from mt_music.training import launch


def fit(*, config: Any, data: Sequence[np.ndarray], model_dir: str, overwrite: bool = False) -> fitted.FittedCodec:
    """Fits the codec family of `config` on `data` (images or waveforms) and saves it in `model_dir`."""
    cls = tokenizer.fitted_family_of_config(config)
    spec_path = os.path.join(model_dir, fitted.SPEC_FILE)
    if os.path.exists(spec_path) and not overwrite:
        raise UserError(f"{model_dir} already holds a codec ({fitted.SPEC_FILE}); choose another MODEL_DIR or "
                        "refit it with --gin.fit.fit.overwrite=True")
    check_output_dir(model_dir, "MODEL_DIR")
    if overwrite and os.path.exists(spec_path):
        os.remove(spec_path)  # the directory is incomplete until the new fit is saved
    started = time.perf_counter()
    print(f"fitting a {cls.family} codec on {len(data)} {cls.kind}s …", file=sys.stderr, flush=True)
    codec = cls.fit(config, list(data))
    codec.save(model_dir)
    seconds = time.perf_counter() - started
    print(f"{cls.family} codec fitted in {seconds:.1f} s → {model_dir}", file=sys.stderr)
    logging.info("fitted %s in %.1f s", cls.family, seconds)
    launch.write_text(os.path.join(model_dir, "fit_seconds.txt"), f"{seconds:.1f}\n")
    return codec


def main(argv: list[str]) -> None:
    launch.main(argv, lambda: importlib.import_module("mt_music.codecs.fit").fit,
                example_gin_file="codecs/image_cpu.gin", user_errors=(codec_data.DataError,))


if __name__ == "__main__":
    launch.run(main)
