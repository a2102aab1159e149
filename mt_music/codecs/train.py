r"""Trains a codec: `python -m mt_music.codecs.train --gin_file=codecs/image_tiny.gin [--gin.NAME=VALUE …]`.

The same launch machinery as the translation model (`mt_music.training.launch`): gin files
and bindings, a (data, fsdp, model) mesh, multi-host flags, orbax checkpoints with
resume and SIGTERM save, metrics.jsonl (+ TensorBoard where TensorFlow exists).
Codec run files live in gin/codecs/: image_{tiny,base}.gin, audio_{tiny,base}.gin.

    python -m mt_music.codecs.train --gin_file=codecs/image_tiny.gin --gin.MODEL_DIR="'/tmp/image_codec'"
    python -m mt_music.codecs.train --gin_file=codecs/audio_base.gin --gin.MODEL_DIR="'/tmp/dac'" \
        --gin.codec_windows.directory_audio.directory="'/data/recordings'" \
        --gin.train.train.data_source="@codec_windows.AudioClips()" \
        --gin.codec_windows.AudioClips.waveforms="@codec_windows.directory_audio()"

Every `summary_every` steps a fixed held-out batch is reconstructed: its metrics
go to `eval/…` and the originals and reconstructions to TensorBoard (images /
audio) and `MODEL_DIR/samples/`. MODEL_DIR also receives `codec.json`, the model
spec that `mt_music.codecs.tokenizer.load_codec` rebuilds the codec from.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from typing import Any

import jax
import numpy as np
from absl import logging

from mt_music.codecs import models
from mt_music.codecs.trainer import CODEC_OPTIMIZER, CodecTrainer, CodecTrainState
from mt_music.data import codec_windows as codec_data
from mt_music.training import launch, partitioning, trainer

CODEC_SPEC = "codec.json"


def _summaries(writer, codec_trainer: CodecTrainer, state: CodecTrainState, batch: dict, step: int) -> None:
    """Held-out reconstruction metrics, images and audio."""
    metrics, reconstruction = codec_trainer.eval_step(state, batch)
    scalars = {f"eval/{name}": float(value) for name, value in jax.device_get(metrics).items()}
    writer.write_scalars(step, scalars)
    logging.info("step %d eval: %s", step, ", ".join(f"{k[5:]} {v:.4g}" for k, v in scalars.items()))
    model = codec_trainer.model
    original = np.asarray(jax.device_get(batch[model.feature]))
    reconstruction = np.asarray(jax.device_get(reconstruction))
    if model.feature == "images":  # [-1, 1] → [0, 1]; original above reconstruction
        pairs = np.concatenate([original, np.clip(reconstruction, -1, 1)], axis=1)
        writer.write_images(step, {"reconstruction": (pairs + 1) / 2})
    else:
        writer.write_audios(step, {"original": original, "reconstruction": np.clip(reconstruction, -1, 1)},
                            sample_rate=model.config.sample_rate)


def _report(writer, metrics: dict, step: int, previous: tuple[int, float] | None, examples_per_step: int) -> None:
    scalars = {name if "/" in name else f"train/{name}": float(value)
               for name, value in jax.device_get(metrics).items()}
    now = time.perf_counter()
    if previous and step > previous[0]:
        step_time = (now - previous[1]) / (step - previous[0])
        scalars.update({"perf/step_time_s": step_time, "perf/examples_per_s": examples_per_step / step_time})
    writer.write_scalars(step, scalars)
    shown = [f"loss {scalars['loss/total']:.4f}"]
    shown += [f"{name[5:]} {scalars[name]:.4g}" for name in ("loss/mel", "loss/reconstruction", "loss/discriminator")
              if name in scalars]
    shown += [f"perplexity0 {scalars['vq/perplexity_0']:.1f}", f"restarted {int(scalars['vq/restarted_codes'])}"]
    if "perf/step_time_s" in scalars:
        shown.append(f"step {scalars['perf/step_time_s'] * 1e3:.0f} ms")
    logging.info("step %d: %s", step, ", ".join(shown))


def train(*, model: models.CodecModel, data_source: Any, model_dir: str, batch_size: int, num_steps: int,
          optimizer: trainer.OptimizerConfig = CODEC_OPTIMIZER,
          discriminator_optimizer: trainer.OptimizerConfig | None = None, adversarial_start_step: int = 0,
          eval_source: Any = None, summary_every: int = 1000, summary_examples: int = 4,
          mesh: partitioning.MeshConfig = partitioning.MeshConfig(), seed: int = 0, log_every: int = 100,
          checkpoint_every: int = 1000, keep_checkpoints: int | None = 3, async_checkpoints: bool = True,
          tensorboard: bool = True, stop_check_every: int = 10,
          max_consecutive_skipped_steps: int | None = 20) -> CodecTrainState:
    """Trains (or resumes) a codec up to `num_steps` steps of global batch `batch_size`; returns the state."""
    launch.check_count(num_steps, "TRAIN_STEPS (train.train.num_steps)")
    run = launch.start_run(model_dir, data_source, batch_size=batch_size, mesh=mesh, tensorboard=tensorboard,
                           checkpoint_every=checkpoint_every, keep_checkpoints=keep_checkpoints,
                           async_checkpoints=async_checkpoints)
    with run:
        launch.write_text(os.path.join(model_dir, CODEC_SPEC), json.dumps(model.to_spec(), indent=1))
        model.check_batch(run.first_batch)
        codec_trainer = CodecTrainer(model, run.partitioner, run.batch_shapes, optimizer, discriminator_optimizer,
                                     adversarial_start_step=adversarial_start_step)
        state = run.resume(codec_trainer.abstract_state, lambda: codec_trainer.create_state(seed), num_steps=num_steps,
                           schedule_steps=optimizer.total_steps)
        return _train(run, codec_trainer, state, num_steps, eval_source, summary_every, summary_examples, log_every,
                      stop_check_every, max_consecutive_skipped_steps)


def _train(run: launch.Run, codec_trainer: CodecTrainer, state: CodecTrainState, num_steps: int, eval_source: Any,
           summary_every: int, summary_examples: int, log_every: int, stop_check_every: int,
           max_consecutive_skipped_steps: int | None) -> CodecTrainState:
    partitioner, writer, checkpointer, start_step = run.partitioner, run.writer, run.checkpointer, run.start_step
    batch_size, model = run.batch_size, codec_trainer.model
    num_params, num_disc_params = trainer.count_parameters(state.params), trainer.count_parameters(state.disc_params)
    logging.info("codec: %d parameters (+ %d discriminator); starting at step %d of %d", num_params,
                 num_disc_params, start_step, num_steps)
    writer.write_hparams({"batch_size": batch_size, "num_steps": num_steps, "num_params": num_params,
                          "num_discriminator_params": num_disc_params, **model.to_spec()})

    summary_batch = None
    if eval_source is not None:
        ways = partitioner.batch_ways
        examples = -(-max(summary_examples, 1) // ways) * ways  # whole rows per data-parallel device
        local = eval_source.batch(0, examples, *partitioner.data_layout(examples))
        summary_batch = codec_trainer.global_batch(local, examples)

    clock: dict[str, Any] = {"previous": None}  # (step, time) of the last report: step times exclude summaries

    def after_step(step: int, state: CodecTrainState, metrics: dict, first: bool) -> None:
        if step % log_every == 0 or step == num_steps:
            _report(writer, metrics, step, clock["previous"], batch_size)
        if summary_batch is not None and (step % summary_every == 0 or step == num_steps):
            _summaries(writer, codec_trainer, state, summary_batch, step)
        if first or step % log_every == 0 or step % summary_every == 0:
            clock["previous"] = (step, time.perf_counter())

    state = launch.run_loop(
        lambda state, batch: codec_trainer.train_step(state, codec_trainer.global_batch(batch, batch_size)),
        run.batches, state, start_step=start_step, num_steps=num_steps,
        checkpointer=checkpointer, model_dir=run.model_dir, after_step=after_step, stop_check_every=stop_check_every,
        max_consecutive_skipped_steps=max_consecutive_skipped_steps, skipped_metric="train/skipped_steps")
    writer.flush()
    writer.close()
    return state


def main(argv: list[str]) -> None:
    launch.main(argv, lambda: importlib.import_module("mt_music.codecs.train").train,
                example_gin_file="codecs/image_tiny.gin", user_errors=(codec_data.DataError, models.BatchShapeError))


if __name__ == "__main__":
    launch.run(main)
