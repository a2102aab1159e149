"""The divergence policy: a warning for every skipped step, a clear stop after too many in a row.

The train steps drop an update whose loss, gradients or new parameters are not finite and count it
(`skipped_steps` in their metrics). Reading that count makes the host wait for the step, so the
guard keeps the counts as device scalars and reads them together every `check_every` steps.
"""

from __future__ import annotations

from typing import Any

from absl import logging


class DivergenceError(RuntimeError):
    """Too many consecutive steps were non-finite: the run stops instead of going on without learning."""


class DivergenceGuard:
    """Follows the cumulative skipped-step count of a run; `max_consecutive=None` only warns."""

    def __init__(self, max_consecutive: int | None, skipped_so_far: int, check_every: int = 10):
        if max_consecutive is not None and max_consecutive < 1:
            raise ValueError(f"max_consecutive_skipped_steps must be at least 1 (or None), got {max_consecutive}")
        self.max_consecutive = max_consecutive
        self.check_every = max(1, check_every)
        self.consecutive = 0
        self._last_total = int(skipped_so_far)
        self._pending: list[tuple[int, Any]] = []

    def record(self, step: int, skipped_total: Any) -> None:
        """The count after `step` (a device scalar is fine); checked every `check_every` records."""
        self._pending.append((step, skipped_total))
        if len(self._pending) >= self.check_every:
            self.check()

    def check(self) -> None:
        """Warns for each newly skipped step; DivergenceError once `max_consecutive` come in a row."""
        pending, self._pending = self._pending, []
        for step, total in pending:
            total = int(total)
            if total > self._last_total:
                self.consecutive += 1
                logging.warning("step %d skipped: non-finite loss, gradients or parameters (%d in a row, %d in all)",
                                step, self.consecutive, total)
            else:
                self.consecutive = 0
            self._last_total = total
            if self.max_consecutive is not None and self.consecutive >= self.max_consecutive:
                raise DivergenceError(
                    f"training diverged: {self.consecutive} steps in a row up to step {step} had a non-finite loss, "
                    "gradients or parameters and were skipped; lower trainer.OptimizerConfig.learning_rate (or "
                    "raise .eps) and resume from the last checkpoint, or set "
                    "train.train.max_consecutive_skipped_steps=None to only warn")
