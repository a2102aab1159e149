"""Shared pieces of the training tests: a trainer of the tiny model on a mesh, and synthetic batches."""

from __future__ import annotations

import functools
import math

import jax
from model_testing import tiny_model

from mt_music.data import synthetic
from mt_music.training import partitioning, trainer

BATCH = 8
ENCODER_LENGTH = 24
DECODER_LENGTH = 24
INPUT_SHAPES = {"encoder_input_tokens": (BATCH, ENCODER_LENGTH, 4), "decoder_input_tokens": (BATCH, DECODER_LENGTH, 4)}
TEST_OPTIMIZER = trainer.OptimizerConfig(learning_rate=3e-3, warmup_steps=5, total_steps=200, final_learning_rate=3e-4)


@functools.cache
def data() -> synthetic.SyntheticTask:
    return synthetic.SyntheticTask(encoder_length=ENCODER_LENGTH, decoder_length=DECODER_LENGTH, max_symbols=12)


@functools.cache
def make_trainer(mesh_shape: tuple[int, int, int], *, dropout_rate: float = 0.0,
                 num_microbatches: int = 1) -> trainer.Trainer:
    """A Trainer of the tiny model (fp32) on the first prod(mesh_shape) simulated devices.

    Cached, so tests in one worker share its compiled init and steps (a trainer holds no state).
    """
    devices = jax.devices()[: math.prod(mesh_shape)]
    mesh = partitioning.make_mesh(partitioning.MeshConfig(*mesh_shape), devices)
    return trainer.Trainer(tiny_model(dropout_rate=dropout_rate), partitioning.Partitioner(mesh), INPUT_SHAPES,
                           TEST_OPTIMIZER, num_microbatches=num_microbatches)


def global_batch(train_lib: trainer.Trainer, step: int):
    return train_lib.global_batch(data().batch(step, BATCH), BATCH)
