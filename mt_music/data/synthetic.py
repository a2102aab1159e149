"""An in-memory synthetic translation task for smoke runs, benchmarks and resume tests.

Every example is a random string of symbols from a small alphabet, rendered in a
source modality and — copied or reversed — in a target modality: a symbol is an
LMX token, a MIDI event, or a 4-code frame of an audio clip or of an image grid
(filled column by column, one system of 1..max_image_rows rows). Models learn
it quickly (attention copies by position), and every frame obeys the batch
contract the real tasks will produce (SOS/EOS, image height frames, (x, y)
positions, decoder inputs shifted right).

An example is a pure function of (seed, step, global example index), so a batch
does not depend on how many hosts build it, and a resumed run sees exactly the
batches an uninterrupted one would. Each host builds only its own rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from mt_music.data import features
from mt_music.data.indexed_source import IndexedSource
from mt_music.errors import UserError
from mt_music.image import grids
from mt_music.lmx.vocabulary import LMX_TOKENS
from mt_music.vocabulary import Modality, UnifiedVocabulary

# The paper's four core directions, one of them reversed.
DEFAULT_TASKS = ("image->lmx", "lmx->image", "audio->midi", "midi->audio:reverse")
FEATURES = features.FEATURES


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    source: Modality
    target: Modality
    reverse: bool = False

    @classmethod
    def parse(cls, spec: str) -> TaskSpec:
        """'image->lmx' or 'midi->audio:reverse'."""
        pair, _, op = spec.partition(":")
        source, arrow, target = pair.partition("->")
        if not arrow or op not in ("", "copy", "reverse"):
            raise UserError(f"synthetic.SyntheticTask.tasks: task {spec!r} is not 'source->target[:copy|:reverse]'")
        return cls(Modality.parse(source.strip()), Modality.parse(target.strip()), op == "reverse")

    @property
    def name(self) -> str:
        """'image2lmx', 'midi2audio_reverse': the name the metrics log uses."""
        return f"{self.source.name.lower()}2{self.target.name.lower()}" + ("_reverse" if self.reverse else "")


def _codes(symbols: np.ndarray, num_slots: int) -> np.ndarray:
    """A fixed 4-code frame per symbol (distinct per slot), [N] → [N, K] in 0..1023."""
    slots = np.arange(num_slots)
    return (symbols[:, None] * 31 + slots[None, :] * 257 + 7) % 1024


def _line(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return frames, features.line_positions(len(frames))


class SyntheticTask(IndexedSource):
    """Copy/reverse translation between modalities (see the module docstring).

    An example has min_symbols..max_symbols symbols, at most what the lengths
    allow; a min_symbols beyond that fills every sequence (for benchmarks).
    """

    def __init__(self, tasks: Sequence[str] = DEFAULT_TASKS, *, encoder_length: int = 32, decoder_length: int = 32,
                 alphabet_size: int = 16, min_symbols: int = 2, max_symbols: int | None = None,
                 max_image_rows: int = 2, seed: int = 0, vocabulary: UnifiedVocabulary | None = None):
        self.tasks = tuple(TaskSpec.parse(t) for t in tasks)
        self.encoder_length = encoder_length
        self.decoder_length = decoder_length
        self.alphabet_size = alphabet_size
        self.min_symbols = min_symbols
        self.max_symbols = max_symbols
        self.max_image_rows = max_image_rows
        self.seed = seed
        self.vocabulary = vocabulary or UnifiedVocabulary()
        if not 1 <= alphabet_size <= len(LMX_TOKENS):
            raise UserError(f"synthetic.SyntheticTask.alphabet_size must be 1..{len(LMX_TOKENS)}, got {alphabet_size}")
        for task in self.tasks:
            if self._max_symbols(task) < 1:
                raise UserError(f"synthetic.SyntheticTask: {task} does not fit into lengths {encoder_length}/{decoder_length}")

    # ------------------------------------------------------------ one example

    @property
    def task_names(self) -> list[str]:
        return [task.name for task in self.tasks]

    def _max_symbols(self, task: TaskSpec) -> int:
        source_extra = 1 if task.source in (Modality.LMX, Modality.MIDI) else 0  # EOS on 1-D inputs
        target_extra = 2 if task.target is Modality.IMAGE else 1  # (height +) EOS
        limit = min(self.encoder_length - source_extra, self.decoder_length - target_extra)
        return limit if self.max_symbols is None else min(limit, self.max_symbols)

    def _render(self, modality: Modality, symbols: np.ndarray, rows: int, output: bool):
        """(frames [T, K], positions [T, 2]); image positions cover the frames before EOS."""
        voc = self.vocabulary
        if modality is Modality.LMX:
            return _line(voc.encode_lmx([LMX_TOKENS[s] for s in symbols]))
        if modality is Modality.MIDI:
            return _line(voc.encode_midi(symbols + 3))  # native ids 3.. are events
        codes = _codes(symbols, voc.num_slots)
        if modality is Modality.AUDIO:
            return _line(voc.encode_audio(codes, add_eos=output))
        grid = codes.reshape(len(symbols) // rows, rows, -1).transpose(1, 0, 2)  # column by column
        joined = (grids.join_systems_for_output if output else grids.join_systems_for_input)([grid])
        return voc.encode_image(joined.frames, add_eos=output), joined.positions

    def example(self, step: int, index: int) -> dict[str, np.ndarray]:
        """The padded features of global example `index` of batch `step`."""
        rng = np.random.default_rng([self.seed, step, index])
        task_id = int(rng.integers(len(self.tasks)))
        task = self.tasks[task_id]
        most = self._max_symbols(task)
        n = int(rng.integers(min(max(self.min_symbols, 1), most), most + 1))
        rows = 1
        if Modality.IMAGE in (task.source, task.target):
            rows = int(rng.integers(1, min(self.max_image_rows, n) + 1))
            grid = self.vocabulary.config.image_grid  # long sequences (benchmarks) need more rows
            rows = min(max(rows, -(-n // grid.max_cols)), grid.max_rows)
            n = min(n - n % rows, rows * grid.max_cols)
        symbols = rng.integers(0, self.alphabet_size, n)
        source, source_positions = self._render(task.source, symbols, rows, output=False)
        target_symbols = symbols[::-1] if task.reverse else symbols
        target, target_positions = self._render(task.target, target_symbols, rows, output=True)

        return features.convert(self.vocabulary, source=source, source_positions=source_positions,
                                source_modality=task.source, target=target, target_positions=target_positions,
                                target_modality=task.target, encoder_length=self.encoder_length,
                                decoder_length=self.decoder_length, task_id=task_id)
