"""SeqIO mixtures: the published recipes and the all-12-directions one, per dataset, with `_eval` twins.

    mt_music_corpus_small_all_directions          every direction, rates = the recipe's full weights
    mt_music_corpus_small_image_to_audio          OMR; MIDI→audio; image→audio (docs/design.md §6.3)
    mt_music_corpus_small_audio_to_image          AMT; LMX→image; audio→image
    mt_music_corpus_small_bidirectional           both
    mt_music_corpus_small_<recipe>_eval           the same tasks, named for evaluation (T5X's
                                                  `MIXTURE_OR_TASK_NAME`) on the validation or test
                                                  split, where audio↔MIDI gives each piece's
                                                  consecutive windows (`piece_tasks`)

Over the published datasets (`datasets.PUBLISHED`), `mt_music_published_<recipe>` joins, for each of
the recipe's directions, every dataset that trains it (OLiMPiC + GrandStaff for OMR, MAESTRO +
MusicNet-EM + Slakh2100 for AMT, the score videos for image↔audio), the direction's weight shared
equally among them; `mt_music_published_<recipe>_eval` also holds the evaluation-only sets (OLiMPiC's
scans, BPSD).

A SeqIO mixture samples at fixed rates, so its rates are each ramp's weight once every ramp is
full; the curriculum itself (weights that ramp per step) is the training source's
(`mt_music.data.translation_mixture`, `token_mixture.from_token_records`), which reads the same
records and the same pieces: in both, audio↔MIDI reads the pieces' windows wherever the dataset has
a piece-level row.
"""

from __future__ import annotations

import seqio

from mt_music.data import curriculum, piece_windows
from mt_music.tasks.datasets import DatasetSpec, pieces_of


def _members(dataset: DatasetSpec, recipe: tuple[curriculum.Ramp, ...]) -> list[tuple[str, float]]:
    pieces = pieces_of(dataset)
    members = []
    for ramp in recipe:
        source = pieces if pieces is not None and ramp.task in piece_windows.PIECE_DIRECTIONS else dataset
        members.append((f"{source.name}_{ramp.task}", ramp.max_weight))
    return members


def register(dataset: DatasetSpec) -> list[str]:
    """Registers the dataset's recipe mixtures and their `_eval` twins; returns their names."""
    names = []
    for recipe_name, recipe in curriculum.RECIPES.items():
        members = _members(dataset, recipe)
        for name in (f"{dataset.name}_{recipe_name}", f"{dataset.name}_{recipe_name}_eval"):
            seqio.MixtureRegistry.remove(name)
            seqio.MixtureRegistry.add(name, members)
            names.append(name)
    return names



def published_members(rows: tuple[DatasetSpec, ...], recipe: tuple[curriculum.Ramp, ...],
                      split: str) -> list[tuple[str, float]]:
    """(task, rate) of every row that has `split` and both modalities of a recipe direction."""
    from mt_music.data import directions

    members = []
    for ramp in recipe:
        direction = directions.Direction.parse(ramp.task)
        holders = [row for row in rows if split in row.splits
                   and direction.source in row.modalities and direction.target in row.modalities]
        members += [(f"{row.name}_{ramp.task}", ramp.max_weight / len(holders)) for row in holders]
    return members


def register_published(rows: tuple[DatasetSpec, ...]) -> list[str]:
    """Registers `mt_music_published_<recipe>` (train) and `_eval` (test) mixtures; returns their names."""
    names = []
    for recipe_name, recipe in curriculum.RECIPES.items():
        for name, split in ((f"mt_music_published_{recipe_name}", "train"),
                            (f"mt_music_published_{recipe_name}_eval", "test")):
            members = published_members(rows, recipe, split)
            if members:
                seqio.MixtureRegistry.remove(name)
                seqio.MixtureRegistry.add(name, members)
                names.append(name)
    return names
