"""What `mt_music.eval` reads from SeqIO: each task of a mixture with its examples and postprocessor.

The evaluation itself (prediction, scoring, reports) never touches TensorFlow; this module is
where SeqIO datasets become numpy examples, so TensorFlow stays in `tasks/` and the data layer.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

import seqio

from mt_music.data import directions
from mt_music.errors import UserError


@dataclasses.dataclass
class EvalTask:
    name: str
    direction: directions.Direction
    examples: list[dict]  # numpy: inputs, inputs_positions, targets, targets_positions, id (+ piece fields)
    postprocess: Callable


def direction_of(task_name: str) -> directions.Direction:
    """The direction a task name ends with (`mt_music_corpus_small_image2lmx` → image2lmx)."""
    return directions.Direction.parse(task_name.rsplit("_", 1)[-1])


def eval_tasks(mixture_or_task_name: str, split: str, limit: int | None = None) -> list[EvalTask]:
    import mt_music.tasks  # noqa: F401  registers the tasks and mixtures

    try:
        provider = seqio.get_mixture_or_task(mixture_or_task_name)
    except ValueError as error:
        known = sorted(name for name in seqio.MixtureRegistry.names() if name.startswith("mt_music"))
        raise UserError(f"MIXTURE_OR_TASK_NAME: no task or mixture {mixture_or_task_name!r}; mixtures: "
                        f"{', '.join(known[:8])}, … (tasks: <mixture's dataset>_<source>2<target>)") from error
    tasks = provider.tasks if isinstance(provider, seqio.Mixture) else [provider]
    result = []
    for task in sorted(tasks, key=lambda t: t.name):
        if split not in task.splits:
            raise UserError(f"SPLIT: task {task.name} has no split {split!r} (it has {', '.join(task.splits)})")
        try:
            dataset = task.get_dataset(None, split=split, shuffle=False, seed=0)
            examples = list(itertools.islice(dataset.as_numpy_iterator(), limit))
        except Exception as error:  # tf.data wraps the reader's FileNotFoundError in its own errors
            if "no token records match" not in str(error):
                raise
            missing = str(error).split("no token records match", 1)[1].split("\n")[0].strip()
            raise UserError(f"{task.name}: no token records match {missing}; bake them first (`make tokens`) or "
                            "point $MT_MUSIC_TOKENS_DIR at the bake") from error
        result.append(EvalTask(task.name, direction_of(task.name), examples, task.postprocess_fn))
    return result
