"""Checkpoints of the train state with orbax (periodic, keep-N, async; restore onto any mesh).

Layout under `<model_dir>/checkpoints/`: one folder per step, `<step>/state/`
holding the TrainState pytree (step, params, opt_state, rng, skipped_steps) as
orbax arrays — each array is stored whole (logically), not per device, so a
restore can lay it out on any mesh: pass a target of ShapeDtypeStructs that
carry the NEW shardings (Trainer.abstract_state) and every host reads just its
shards. The data position needs no checkpoint: synthetic data is a function of
the step.
"""

from __future__ import annotations

import os
from typing import Any

import orbax.checkpoint as ocp
from absl import logging

from mt_music.training.train_state import TrainState

STATE = "state"


class Checkpointer:
    """A thin orbax CheckpointManager for one train state item."""

    def __init__(self, directory: str | os.PathLike, *, save_every: int = 1000, keep: int | None = 3,
                 async_save: bool = True):
        options = ocp.CheckpointManagerOptions(save_interval_steps=save_every, max_to_keep=keep, create=True,
                                               enable_async_checkpointing=async_save)
        self.directory = os.path.abspath(os.fspath(directory))
        self.manager = ocp.CheckpointManager(self.directory, item_names=(STATE,), options=options)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def save(self, state: TrainState, step: int, *, force: bool = False) -> bool:
        """Saves when `step` is on the save interval (or `force`); returns whether it did.

        Async saves return once the arrays are copied off the devices, so the next
        train step may donate the state's buffers.
        """
        if step in self.all_steps():
            return False
        saved = self.manager.save(step, args=ocp.args.Composite(**{STATE: ocp.args.StandardSave(state)}),
                                  force=force)
        if saved:
            logging.info("checkpoint of step %d → %s", step, self.directory)
        return saved

    def restore(self, target: Any, step: int | None = None) -> TrainState:
        """Restores `step` (default: the latest) onto the shardings that `target`'s leaves carry."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        restored = self.manager.restore(step, args=ocp.args.Composite(**{STATE: ocp.args.StandardRestore(target)}))
        logging.info("restored step %d from %s", step, self.directory)
        return restored[STATE]

    def wait(self) -> None:
        """Blocks until pending async saves are on disk."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
