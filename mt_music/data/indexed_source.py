"""Data sources whose examples are pure functions of (step, global example index).

Such a source gives the same global batch however many hosts build it (each
builds only its rows), and a resumed run sees exactly the batches an
uninterrupted one would: the contract of `mt_music.train`'s data sources.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class IndexedSource:
    """Subclasses define `example(step, index)` → dict of arrays; batching is shared."""

    def example(self, step: int, index: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def batch(self, step: int, batch_size: int, shard_index: int = 0, num_shards: int = 1) -> dict[str, np.ndarray]:
        """This shard's rows of global batch `step` (rows shard_index·B/S … (shard_index+1)·B/S − 1)."""
        if batch_size % num_shards:
            raise ValueError(f"batch {batch_size} does not split into {num_shards} shards")
        per_shard = batch_size // num_shards
        first = shard_index * per_shard
        examples = [self.example(step, first + i) for i in range(per_shard)]
        return {name: np.stack([e[name] for e in examples]) for name in examples[0]}

    def batches(self, batch_size: int, start_step: int = 0, shard_index: int = 0,
                num_shards: int = 1) -> Iterator[dict[str, np.ndarray]]:
        """Batches for steps start_step, start_step + 1, … (the data-source protocol of train.py)."""
        step = start_step
        while True:
            yield self.batch(step, batch_size, shard_index, num_shards)
            step += 1
