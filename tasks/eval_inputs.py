"""What `mt_music.eval` reads from SeqIO: each task of a mixture with its examples and postprocessor.

The evaluation itself (prediction, scoring, reports) never touches TensorFlow; this module is
where SeqIO datasets become numpy examples, so TensorFlow stays in `tasks/` and the data layer.
Examples are streamed (one at a time, `EvalTask.examples()`), so a long evaluation holds a batch of
inputs, not the split; each task's first example is read up front, so a missing bake is reported
before any decoding starts.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator

import seqio

from mt_music.data import directions
from mt_music.errors import UserError


@dataclasses.dataclass
class EvalTask:
    name: str
    direction: directions.Direction
    reader: Callable[[], Iterator[dict]]  # numpy: inputs, inputs_positions, targets, targets_positions, id (+ piece fields)
    postprocess: Callable

    def examples(self) -> Iterator[dict]:
        return self.reader()


def direction_of(task_name: str) -> directions.Direction:
    """The direction a task name ends with (`mt_music_corpus_small_image2lmx` → image2lmx)."""
    return directions.Direction.parse(task_name.rsplit("_", 1)[-1])


def eval_tasks(mixture_or_task_name: str, split: str, limit: int | None = None,
               piece_window_seconds: float | None = None) -> list[EvalTask]:
    """The tasks of a mixture (or the one task). `piece_window_seconds`: audio↔MIDI piece tasks cut
    their consecutive windows to this length (what the run trained on) instead of the published 10 s."""
    import mt_music.tasks  # noqa: F401  registers the tasks and mixtures

    if piece_window_seconds is not None:
        _register_piece_tasks(piece_window_seconds)
    try:
        provider = seqio.get_mixture_or_task(mixture_or_task_name)
    except ValueError as error:
        known = sorted(name for name in seqio.MixtureRegistry.names() if name.startswith("mt_music"))
        raise UserError(f"MIXTURE_OR_TASK_NAME: no task or mixture {mixture_or_task_name!r}; mixtures: "
                        f"{', '.join(known[:8])}, … (tasks: <mixture's dataset>_<source>2<target>)") from error
    tasks = provider.tasks if isinstance(provider, seqio.Mixture) else [provider]
    result = []
    for task in sorted(tasks, key=lambda t: t.name):
        task = seqio.TaskRegistry.get(task.name)  # a mixture keeps the task objects of its registration
        if split not in task.splits:
            raise UserError(f"SPLIT: task {task.name} has no split {split!r} (it has {', '.join(task.splits)})")
        reader = _reader(task, split, limit)
        first = next(reader(), None)  # fails here, before any decoding, when the bake is missing
        del first
        result.append(EvalTask(task.name, direction_of(task.name), reader, task.postprocess_fn))
    return result


def _register_piece_tasks(window_seconds: float) -> None:
    from mt_music.data import piece_windows
    from mt_music.tasks import datasets, piece_tasks
    from mt_music.vocabulary import UnifiedVocabulary

    try:
        piece_windows.PieceWindows([], UnifiedVocabulary(), window_seconds)
    except UserError as error:
        raise UserError(f"evaluate.piece_window_seconds: {error}") from error
    for dataset in datasets.CORPUS_PIECES:
        piece_tasks.register(dataset, window_seconds=window_seconds)


def _reader(task: seqio.Task, split: str, limit: int | None) -> Callable[[], Iterator[dict]]:
    def examples() -> Iterator[dict]:
        try:
            dataset = task.get_dataset(None, split=split, shuffle=False, seed=0)
            yield from itertools.islice(dataset.as_numpy_iterator(), limit)
        except Exception as error:  # tf.data wraps the reader's FileNotFoundError in its own errors
            if "no token records match" not in str(error):
                raise
            missing = str(error).split("no token records match", 1)[1].split("\n")[0].strip()
            raise UserError(f"{task.name}: no token records match {missing}; bake them first (`make tokens`) or "
                            "point $MT_MUSIC_TOKENS_DIR at the bake") from error
    return examples
