"""Checkpoints of the train state with orbax (periodic, keep-N, async; restore onto any mesh) that survive damage.

Layout under `<model_dir>/checkpoints/`: one folder per step, `<step>/state/`
holding the TrainState pytree (step, params, opt_state, rng, skipped_steps) as
orbax arrays — each array is stored whole (logically), not per device, so a
restore can lay it out on any mesh: pass a target of ShapeDtypeStructs that
carry the NEW shardings (Trainer.abstract_state) and every host reads just its
shards. The data position needs no checkpoint: synthetic data is a function of
the step.

Integrity (docs/design.md §5.4): a state with a non-finite value is never saved. Once orbax has
finished a step, `<step>/checksums.json` records the size and SHA-256 of every file in it. A
restore takes the newest step that verifies (checksums match, or, for a step not yet sealed, it
restores and is finite); a damaged step is reported in one line and moved to
`<model_dir>/checkpoints_damaged/`, and the run falls back to the next one. Keep-N is applied here,
not by orbax, and never deletes the newest sealed step.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging as std_logging
import os
import shutil
import sys
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from mt_music.errors import UserError
from mt_music.model import layer_stacks
from mt_music.training.train_state import TrainState

STATE = "state"
CHECKSUMS = "checksums.json"
DAMAGED = "checkpoints_damaged"


class CheckpointMismatchError(UserError):
    """The checkpoint holds a state of other shapes than the configured model (another width, vocabulary...)."""


@jax.jit
def _all_finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def is_finite(tree: Any) -> bool:
    """Every floating-point value of `tree` is finite."""
    return bool(_all_finite(tree))


def file_checksums(folder: str) -> dict[str, list]:
    """Relative path → [size, sha256] of every file under `folder` (the checksum file itself excluded)."""
    sums = {}
    for root, _, names in os.walk(folder):
        for name in sorted(names):
            path = os.path.join(root, name)
            relative = os.path.relpath(path, folder)
            if relative == CHECKSUMS:
                continue
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    digest.update(block)
            sums[relative] = [os.path.getsize(path), digest.hexdigest()]
    return sums


@contextlib.contextmanager
def _quiet_failed_reads() -> Iterator[None]:
    """Mutes the hundreds of asyncio tracebacks ("Task exception was never retrieved", "Event loop is
    closed") that the other pending reads of a failed orbax restore print; the failure itself is raised.

    Those reads fail on orbax's threads, before and after the restore raises, so the filters go in
    first and stay for the rest of the process (they drop only these messages).
    """
    _mute_abandoned_reads()
    try:
        yield
    except Exception:
        gc.collect()
        raise


def _mute_abandoned_reads() -> None:
    if getattr(sys.unraisablehook, "_mt_music", False):
        return
    previous = sys.unraisablehook

    def unraisable(info) -> None:
        if isinstance(info.exc_value, RuntimeError) and "Event loop is closed" in str(info.exc_value):
            return
        if "_read_array_index_and_device_put" in repr(info.object) or "async_deserialize" in repr(info.object):
            return
        previous(info)

    unraisable._mt_music = True
    sys.unraisablehook = unraisable

    class AbandonedReads(std_logging.Filter):
        def filter(self, record: std_logging.LogRecord) -> bool:
            text = record.getMessage()
            return not ("never retrieved" in text or "Event loop is closed" in text or
                        (record.exc_info and "Event loop is closed" in str(record.exc_info[1])))

    std_logging.getLogger("asyncio").addFilter(AbandonedReads())
    logging.get_absl_handler().addFilter(AbandonedReads())


def _short_reason(error: BaseException) -> str:
    """The first line of a restore failure (TensorStore appends its whole spec)."""
    text = str(error).split("See full TensorStore details")[0]
    return " ".join(text.split())[:200] or type(error).__name__


class Checkpointer:
    """A thin orbax CheckpointManager for one train state item, with checksums and fallback on damage."""

    def __init__(self, directory: str | os.PathLike, *, save_every: int = 1000, keep: int | None = 3,
                 async_save: bool = True):
        if keep is not None and keep < 1:
            raise UserError(f"keep_checkpoints must be at least 1 (or None: keep all), got {keep}")
        if save_every < 1:
            raise UserError(f"checkpoint_every must be at least 1, got {save_every}")
        options = ocp.CheckpointManagerOptions(save_interval_steps=save_every, max_to_keep=None, create=True,
                                               enable_async_checkpointing=async_save)
        self.directory = os.path.abspath(os.fspath(directory))
        self.keep = keep
        self._closed = False
        self.manager = ocp.CheckpointManager(self.directory, options=options,
                                            item_handlers={STATE: ocp.StandardCheckpointHandler()})

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def _step_dir(self, step: int) -> str:
        return os.path.join(self.directory, str(step))

    def save(self, state: TrainState, step: int, *, force: bool = False) -> bool:
        """Saves when `step` is on the save interval (or `force`); returns whether it did.

        Async saves return once the arrays are copied off the devices, so the next
        train step may donate the state's buffers. A non-finite state is not saved.
        """
        if step in self.all_steps() or not (force or self.manager.should_save(step)):
            return False
        if not is_finite(state):
            logging.error("not saving step %d: the state holds non-finite values (the last checkpoint is kept)", step)
            return False
        self.seal()
        saved = self.manager.save(step, args=ocp.args.Composite(**{STATE: ocp.args.StandardSave(state)}),
                                  force=True)
        if saved:
            logging.info("checkpoint of step %d → %s", step, self.directory)
        return saved

    def seal(self) -> None:
        """Waits for pending saves, writes the checksums of finished steps, then applies keep-N."""
        self.manager.wait_until_finished()
        if jax.process_index() != 0:
            return
        for step in self.all_steps():
            path = os.path.join(self._step_dir(step), CHECKSUMS)
            if not os.path.exists(path):
                sums = file_checksums(self._step_dir(step))
                with open(path + ".tmp", "w") as f:
                    json.dump(sums, f)
                os.replace(path + ".tmp", path)
        self._prune()

    def _prune(self) -> None:
        steps = self.all_steps()
        if self.keep is None or len(steps) <= self.keep:
            return
        sealed = [step for step in steps if os.path.exists(os.path.join(self._step_dir(step), CHECKSUMS))]
        keep = set(steps[-self.keep:]) | set(sealed[-1:])
        for step in steps:
            if step not in keep:
                self.manager.delete(step)

    def verify(self, step: int) -> str | None:
        """Why `step` is damaged (checksums differ), or None (it matches, or is not sealed yet)."""
        path = os.path.join(self._step_dir(step), CHECKSUMS)
        if not os.path.exists(path):
            return None
        try:
            with open(path) as f:
                expected = json.load(f)
        except (OSError, ValueError):
            return f"its {CHECKSUMS} is unreadable"
        actual = file_checksums(self._step_dir(step))
        for name, (size, digest) in expected.items():
            if name not in actual:
                return f"{name} is missing"
            if actual[name][0] != size:
                return f"{name} has {actual[name][0]} bytes instead of {size}"
            if actual[name][1] != digest:
                return f"{name} does not match its checksum"
        return None

    def restore(self, target: Any, step: int | None = None) -> TrainState:
        """Restores `step` (default: the latest) onto the shardings that `target`'s leaves carry."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        self._check_shapes(target, step)
        restored = self.manager.restore(step, args=ocp.args.Composite(**{STATE: ocp.args.StandardRestore(target)}))
        logging.info("restored step %d from %s", step, self.directory)
        return restored[STATE]

    def restore_newest_good(self, target: Any) -> tuple[TrainState, int] | None:
        """The newest step that verifies and restores finite, falling back over damaged ones; None if none exist.

        Damaged steps are moved aside (so a resumed run can save those steps again). A checkpoint of other
        shapes than `target` is a user error, not damage.
        """
        steps = self.all_steps()
        for step in reversed(steps):
            problem = self.verify(step)
            if problem is None:
                try:
                    with _quiet_failed_reads():
                        state = self.restore(target, step)
                except CheckpointMismatchError:
                    raise
                except Exception as error:  # noqa: BLE001 - any unreadable step is damage: fall back
                    problem = _short_reason(error)
                else:
                    if is_finite(state):
                        return state, step
                    problem = "it holds non-finite values"
            self._set_aside(step, problem)
        if steps:
            raise UserError(f"no usable checkpoint in {self.directory}: every step was damaged (moved to "
                            f"{self._damaged_dir()}); start afresh with another MODEL_DIR")
        return None

    def _damaged_dir(self) -> str:
        return os.path.join(os.path.dirname(self.directory), DAMAGED)

    def _set_aside(self, step: int, problem: str) -> None:
        message = (f"checkpoint step {step} in {self.directory} is damaged ({problem}); moved to {self._damaged_dir()}, "
                   "falling back to the previous step")
        logging.warning("%s", message)
        print(f"warning: {message}", file=sys.stderr, flush=True)
        if jax.process_index() == 0:
            os.makedirs(self._damaged_dir(), exist_ok=True)
            destination = os.path.join(self._damaged_dir(), str(step))
            if os.path.exists(destination):
                shutil.rmtree(destination)
            shutil.move(self._step_dir(step), destination)
        self.manager.reload()

    def _check_shapes(self, target: Any, step: int) -> None:
        """A clear error when the stored arrays have other shapes than the model's (e.g. another d_model)."""
        try:
            stored = self.manager.item_metadata(step)[STATE]
            shapes = {leaf.name: tuple(leaf.shape) for leaf in jax.tree.leaves(stored)}
        except Exception:  # noqa: BLE001 - unreadable metadata is damage; the restore itself reports it
            return
        stored_scanned = _names_scanned(list(shapes))
        if stored_scanned is not None and stored_scanned != layer_stacks.is_scanned(getattr(target, "params", target)):
            have, want = ("scanned", "unrolled") if stored_scanned else ("unrolled", "scanned")
            raise CheckpointMismatchError(
                f"the checkpoint of step {step} in {self.directory} has {have} layers and the model {want} ones "
                f"(network.TransformerConfig.scan_layers); set scan_layers = {stored_scanned}, or convert the run "
                f"with: python tools/convert_checkpoint.py --to {want} {os.path.dirname(self.directory)} NEW_MODEL_DIR")
        for path, leaf in jax.tree_util.tree_flatten_with_path(target)[0]:
            name = ".".join(str(getattr(key, "key", getattr(key, "name", getattr(key, "idx", key)))) for key in path)
            if shapes.get(name) != tuple(np.shape(leaf)):
                found = "missing" if name not in shapes else f"of shape {shapes[name]}"
                raise CheckpointMismatchError(
                    f"the checkpoint of step {step} in {self.directory} does not fit the configured model: {name} is "
                    f"{found} there, {tuple(np.shape(leaf))} here; resume with the model config the run was "
                    "trained with, or give a new MODEL_DIR")

    def wait(self) -> None:
        """Blocks until pending async saves are on disk."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        """Seals finished steps and closes orbax; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        self.seal()
        self.manager.close()


def restore_params(path: str | os.PathLike, abstract_params: Any, step: int | None = None) -> tuple[Any, int]:
    """Only the parameters of a training checkpoint (optimizer state left on disk), verified first.

    `path` is a run's MODEL_DIR, its `checkpoints/` folder or one step's folder; `abstract_params` the
    unboxed parameter shapes (with shardings) to restore onto. Returns (params, step).
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(os.path.join(path, "checkpoints")):
        path = os.path.join(path, "checkpoints")
    if os.path.basename(path).isdigit() and os.path.isdir(os.path.join(path, STATE)):
        step, path = int(os.path.basename(path)), os.path.dirname(path)
    if not os.path.isdir(path):
        raise UserError(f"CHECKPOINT_PATH: {path} does not exist; give a run's MODEL_DIR, its checkpoints/ "
                        "folder or one step's folder")
    checkpointer = Checkpointer(path, async_save=False, keep=None)  # keep=None: evaluation never prunes
    try:
        step = checkpointer.latest_step() if step is None else step
        if step is None or step not in checkpointer.all_steps():
            raise UserError(f"CHECKPOINT_PATH: no checkpoint{'' if step is None else f' of step {step}'} in {path} "
                            f"(steps there: {checkpointer.all_steps() or 'none'})")
        problem = checkpointer.verify(step)
        if problem:
            raise UserError(f"CHECKPOINT_PATH: step {step} in {path} is damaged ({problem}); take another step")
        stored_scanned = _stored_layers_scanned(checkpointer, step)
        convert = stored_scanned is not None and stored_scanned != layer_stacks.is_scanned(abstract_params)
        if convert:  # read the stored layout onto the host, then restack onto the model's shardings
            stored = jax.eval_shape(lambda tree: layer_stacks.to_layout(tree, stored_scanned), abstract_params)
            restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), stored)
        else:
            stored, restore_args = abstract_params, ocp.checkpoint_utils.construct_restore_args(abstract_params)
        item = ocp.args.PyTreeRestore(item={"params": stored}, restore_args={"params": restore_args},
                                      partial_restore=True)
        reader = ocp.CheckpointManager(path, options=ocp.CheckpointManagerOptions(read_only=True))
        try:
            params = reader.restore(step, args=ocp.args.Composite(**{STATE: item}))[STATE]["params"]
        except (ValueError, TypeError, KeyError) as error:
            raise UserError(f"CHECKPOINT_PATH: step {step} in {path} does not hold parameters of this model "
                            f"({_short_reason(error)}); give the model gin the run was trained with") from error
        finally:
            reader.close()
    finally:
        checkpointer.close()
    if convert:
        shardings = jax.tree.map(lambda leaf: leaf.sharding, abstract_params)
        params = jax.jit(lambda tree: layer_stacks.to_layout(tree, not stored_scanned), out_shardings=shardings)(params)
        logging.info("converted the %s layers of the checkpoint to the model's", "scanned" if stored_scanned else "unrolled")
    logging.info("restored the parameters of step %d from %s", step, path)
    return params, step


def _stored_layers_scanned(checkpointer: Checkpointer, step: int) -> bool | None:
    """Whether the step's params hold scanned layer stacks (TransformerConfig.scan_layers); None if unknown."""
    try:
        names = [leaf.name for leaf in jax.tree.leaves(checkpointer.manager.item_metadata(step)[STATE])]
    except Exception:  # noqa: BLE001 - unreadable metadata: the restore itself reports it
        return None
    return _names_scanned(names)


def _names_scanned(names: list[str]) -> bool | None:
    for name in names:
        parts = name.split(".")
        for stack in layer_stacks.STACKS:
            if stack in parts[:-1]:
                following = parts[parts.index(stack) + 1]
                if following == layer_stacks.SCANNED:
                    return True
                if following.startswith("layers_"):
                    return False
    return None
