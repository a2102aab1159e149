r"""Trains the translation model: `python -m mt_music.train --gin_file=… [--gin.NAME=VALUE …]`.

Everything is configured through gin, T5X style: `--gin_file` (repeatable) names
config files, found on `--gin_search_paths` and in mt_music's own gin/ folder;
`--gin.NAME=VALUE` (or `--gin_bindings=NAME=VALUE`) overrides single bindings.
`gin/train.gin` holds the published optimizer and schedule; a run file adds a
model and a data source, e.g. the CPU smoke run:

    python -m mt_music.train --gin_file=experiments/tiny_synthetic.gin \
        --gin.MODEL_DIR="'/tmp/tiny'" --gin.TRAIN_STEPS=50 --gin.BATCH_SIZE=16

Other common bindings: `--gin.partitioning.MeshConfig.fsdp=8` (the mesh is
data × fsdp × model; data takes the devices left over),
`--gin.train.train.num_microbatches=4` (gradient accumulation),
`--gin.train.train.peak_flops=…` (per device, for MFU on unknown devices),
`--gin_file=eval.gin --gin.train.train.evaluation=@eval.evaluate --gin.train.train.eval_every=1000
--gin.MIXTURE_OR_TASK_NAME="'…_eval'"` (evaluate the checkpoint every 1000 steps, in-process).

MODEL_DIR receives checkpoints (`checkpoints/<step>/`), `metrics.jsonl` (and
TensorBoard events where TensorFlow is installed), `config.gin` (as parsed) and
`operative_config.gin` (the values used). A run restarted on the same MODEL_DIR
resumes from the newest checkpoint that verifies (a damaged one is reported, set aside
under checkpoints_damaged/ and the previous one taken), on whatever mesh it is given now.
TRAIN_STEPS also sets the schedule's total_steps; to extend a finished run keep the schedule:
`--gin.TRAIN_STEPS=<more> --gin.trainer.OptimizerConfig.total_steps=<the old TRAIN_STEPS>`
(a resume that would change the schedule is refused with that hint). SIGTERM
(preemption) or Ctrl-C saves a checkpoint at the current step and exits with status 0.
A step with a non-finite loss, gradient or parameter is skipped with a warning; after
`--gin.train.train.max_consecutive_skipped_steps` (20) in a row the run stops with an error.

Multi-host: pass --coordinator_address=HOST:PORT --num_processes=N
--process_id=I on every host (or --multihost_auto on Cloud TPU / SLURM / MPI).

The data source is any object with
`batches(batch_size, start_step, shard_index, num_shards)` yielding this
host's rows of the global batches of steps start_step, start_step + 1, … as
numpy dicts of the model's features (the protocol `mt_music.training.launch.DataSource`;
e.g. `mt_music.data.synthetic.SyntheticTask`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import jax
from absl import logging

from mt_music.errors import UserError
from mt_music.model import models
from mt_music.training import launch, partitioning, trainer
from mt_music.training.train_state import TrainState


def train(*, model: models.EncoderDecoderModel, data_source: launch.DataSource, model_dir: str, batch_size: int,
          num_steps: int, optimizer: trainer.OptimizerConfig = trainer.OptimizerConfig(),
          mesh: partitioning.MeshConfig = partitioning.MeshConfig(), num_microbatches: int = 1, seed: int = 0,
          log_every: int = 100, checkpoint_every: int = 1000, keep_checkpoints: int | None = 3,
          async_checkpoints: bool = True, peak_flops: float | None = None, tensorboard: bool = True,
          stop_check_every: int = 10, max_consecutive_skipped_steps: int | None = 20,
          evaluation: Callable[..., Any] | None = None, eval_every: int | None = None) -> TrainState:
    """Trains (or resumes) up to `num_steps` steps of global batch `batch_size`; returns the final state.

    With `evaluation` (e.g. `@eval.evaluate`, configured by an included eval.gin) and `eval_every`, the
    checkpoint of every `eval_every`-th step (and of the last) is saved and evaluated in-process
    (`<MODEL_DIR>/eval_<split>/`; single-host). Off by default: no TensorFlow or SeqIO is imported then."""
    launch.check_count(num_steps, "TRAIN_STEPS (train.train.num_steps)")
    if (evaluation is None) != (eval_every is None):
        raise UserError("train.train.evaluation and train.train.eval_every go together: give both or neither")
    if eval_every is not None:
        launch.check_count(eval_every, "train.train.eval_every")
    launch.check_count(num_microbatches, "train.train.num_microbatches")
    run = launch.start_run(model_dir, data_source, batch_size=batch_size, mesh=mesh, tensorboard=tensorboard,
                           checkpoint_every=checkpoint_every, keep_checkpoints=keep_checkpoints,
                           async_checkpoints=async_checkpoints)
    with run:
        return _train(run, model, num_steps, optimizer, num_microbatches, seed, log_every, peak_flops,
                      stop_check_every, max_consecutive_skipped_steps, evaluation, eval_every)


def _train(run: launch.Run, model: models.EncoderDecoderModel, num_steps: int, optimizer: trainer.OptimizerConfig,
           num_microbatches: int, seed: int, log_every: int, peak_flops: float | None, stop_check_every: int,
           max_consecutive_skipped_steps: int | None, evaluation: Callable[..., Any] | None = None,
           eval_every: int | None = None) -> TrainState:
    partitioner, checkpointer, batch_size = run.partitioner, run.checkpointer, run.batch_size
    input_shapes = run.batch_shapes
    train_lib = trainer.Trainer(model, partitioner, input_shapes, optimizer, num_microbatches=num_microbatches)
    state = run.resume(train_lib.abstract_state, lambda: train_lib.create_state(seed), num_steps=num_steps,
                       schedule_steps=optimizer.total_steps)
    start_step, writer = run.start_step, run.writer
    num_params = trainer.count_parameters(state.params)
    logging.info("%d parameters; starting at step %d of %d", num_params, start_step, num_steps)
    writer.write_hparams({"batch_size": batch_size, "num_steps": num_steps, "num_microbatches": num_microbatches,
                          "num_params": num_params, "mesh": str(dict(partitioner.mesh.shape)),
                          **{f"optimizer.{k}": v for k, v in vars(optimizer).items()}})

    config = model.module.config
    reporter = trainer.MetricsReporter(
        writer, config, batch_size=batch_size, encoder_length=input_shapes["encoder_input_tokens"][1],
        decoder_length=input_shapes["decoder_input_tokens"][1], num_devices=jax.device_count(),
        peak_flops=trainer.peak_flops_per_device(override=peak_flops),
        task_names=getattr(run.data_source, "task_names", None),
        task_weights=getattr(run.data_source, "task_weights", None))

    def after_step(step: int, state: TrainState, metrics: dict, first: bool) -> None:
        if first:
            reporter.start(step)
        reporter.accumulate(metrics)
        if step % log_every == 0 or step == num_steps:
            reporter.report(step, metrics)
        if evaluation is not None and (step % eval_every == 0 or step == num_steps):
            checkpointer.save(state, step, force=True)
            checkpointer.seal()  # the evaluation restores this step's parameters from disk
            if jax.process_index() == 0:
                evaluation(checkpoint_path=run.model_dir, step=step)

    state = launch.run_loop(lambda state, batch: train_lib.train_step(state, train_lib.global_batch(batch, batch_size)),
                            run.batches, state, start_step=start_step, num_steps=num_steps,
                            checkpointer=checkpointer, model_dir=run.model_dir, after_step=after_step,
                            stop_check_every=stop_check_every,
                            max_consecutive_skipped_steps=max_consecutive_skipped_steps)
    writer.flush()
    writer.close()
    if reporter.task_history and jax.process_index() == 0:
        print(f"per-task training loss (nats per target token), {run.model_dir}:\n{reporter.summary()}", flush=True)
    return state


def main(argv: list[str]) -> None:
    launch.main(argv, lambda: importlib.import_module("mt_music.train").train,
                example_gin_file="experiments/tiny_synthetic.gin")


if __name__ == "__main__":
    launch.run(main)
